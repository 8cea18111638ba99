#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use super::reference;
use super::*;
use proptest::prelude::*;
use std::cell::Cell;
use std::collections::HashMap;

fn h(hex: &str) -> Hash {
    Hash::from_hex(hex).unwrap()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

// ---------------------------------------------------------------------------------------------
// Known answers.
//
// The eight-leaf reference tree of Google's Certificate Transparency C++ implementation:
// google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc (kInputs, kSHA256Roots,
// kSHA256Paths, kSHA256Proofs), commit 0e901cacd1388fa16f78b184612f6cd16e5ceec1. The same
// vectors are carried by transparency-dev/merkle, proof/verify_test.go (commit
// 02194e9afb6c1d95b5381350007963aa70fff472), which adds the 6 → 7 consistency proof below.
// Both write leaves 1-based in their path vectors; they are 0-based here.
// ---------------------------------------------------------------------------------------------

const EMPTY_TREE_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const CT_INPUTS: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/// Roots of the trees of the first 1..=8 inputs.
const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (0-based leaf index, tree size, audit path).
const CT_PATHS: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CT_CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    // transparency-dev/merkle only.
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn ct_tree() -> MemoryTree {
    MemoryTree::from_leaf_hashes(CT_INPUTS.iter().map(|d| leaf_hash(&unhex(d))))
}

fn ct_root(size: u64) -> Hash {
    if size == 0 { h(EMPTY_TREE_ROOT) } else { h(CT_ROOTS[size as usize - 1]) }
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|x| h(x)).collect()
}

/// transparency-dev/merkle, rfc6962/rfc6962_test.go (commit
/// 78493b07ef9b552e3379abf9e23d4da26fbe797c): the empty root, the hash of the empty leaf, and
/// the hash of the leaf "L123456".
#[test]
fn hashes_match_rfc6962_test_vectors() {
    assert_eq!(empty_root(), h(EMPTY_TREE_ROOT));
    assert_eq!(leaf_hash(b""), h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
    assert_eq!(leaf_hash(b"L123456"), h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"));
    // Domain separation: a node is not the leaf of its children's concatenation.
    let (a, b) = (leaf_hash(b"Hello"), leaf_hash(b"World"));
    let mut both = a.as_bytes().to_vec();
    both.extend_from_slice(b.as_bytes());
    assert_ne!(node_hash(&a, &b), leaf_hash(&both));
    assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
}

#[test]
fn roots_match_ct_reference_tree() {
    let tree = ct_tree();
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(), h(EMPTY_TREE_ROOT));
    assert_eq!(root(&tree, 0).unwrap(), h(EMPTY_TREE_ROOT));
    for (i, leaf) in tree.leaf_hashes().iter().enumerate() {
        frontier.append(*leaf).unwrap();
        let size = i as u64 + 1;
        assert_eq!(frontier.root(), ct_root(size), "frontier, size {size}");
        assert_eq!(root(&tree, size).unwrap(), ct_root(size), "stored nodes, size {size}");
        assert_eq!(reference::mth(&tree.leaf_hashes()[..=i]), ct_root(size), "reference, size {size}");
    }
}

/// Every way the CT tests corrupt an inclusion proof, each of which must be refused.
fn assert_inclusion_corruptions_fail(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) {
    let refuse = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash, what: &str| {
        assert!(verify_inclusion(leaf, index, size, proof, root).is_err(), "accepted {what} ({index}, {size})");
    };
    refuse(leaf, index.wrapping_sub(1), size, proof, root, "index - 1");
    refuse(leaf, index + 1, size, proof, root, "index + 1");
    refuse(leaf, index ^ 2, size, proof, root, "index ^ 2");
    refuse(leaf, index, size * 2, proof, root, "size * 2");
    refuse(leaf, index, size / 2, proof, root, "size / 2");
    refuse(&leaf_hash(b"WrongLeaf"), index, size, proof, root, "wrong leaf");
    refuse(leaf, index, size, proof, &empty_root(), "empty root");
    let mut longer = proof.to_vec();
    longer.push(*root);
    refuse(leaf, index, size, &longer, root, "trailing root");
    let mut longer = vec![empty_root()];
    longer.extend_from_slice(proof);
    refuse(leaf, index, size, &longer, root, "preceding garbage");
    if let Some((_, shorter)) = proof.split_last() {
        refuse(leaf, index, size, shorter, root, "removed last element");
    }
    for i in 0..proof.len() {
        let mut bad = proof.to_vec();
        let mut bytes = *bad[i].as_bytes();
        bytes[0] ^= 8;
        bad[i] = Hash::from_bytes(bytes);
        refuse(leaf, index, size, &bad, root, "flipped bit");
    }
}

#[test]
fn inclusion_proofs_match_ct_vectors() {
    let tree = ct_tree();
    for (index, size, want) in CT_PATHS {
        let want = hashes(want);
        let leaf = tree.leaf_hashes()[index as usize];
        let got = inclusion_proof(&tree, index, size).unwrap();
        assert_eq!(got, want, "inclusion proof ({index}, {size})");
        assert_eq!(reference::path(index as usize, &tree.leaf_hashes()[..size as usize]), want);
        verify_inclusion(&leaf, index, size, &want, &ct_root(size)).unwrap();
        assert_inclusion_corruptions_fail(&leaf, index, size, &want, &ct_root(size));
    }
}

fn assert_consistency_corruptions_fail(old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) {
    let refuse = |old: u64, new: u64, r1: &Hash, r2: &Hash, proof: &[Hash], what: &str| {
        assert!(verify_consistency(old, new, r1, r2, proof).is_err(), "accepted {what} ({old} → {new})");
    };
    refuse(old - 1, new, old_root, new_root, proof, "old - 1");
    refuse(old + 1, new, old_root, new_root, proof, "old + 1");
    refuse(old ^ 2, new, old_root, new_root, proof, "old ^ 2");
    refuse(old, new * 2, old_root, new_root, proof, "new * 2");
    refuse(old, new / 2, old_root, new_root, proof, "new / 2");
    refuse(old, new, &leaf_hash(b"WrongRoot"), new_root, proof, "wrong old root");
    refuse(old, new, old_root, &leaf_hash(b"WrongRoot"), proof, "wrong new root");
    refuse(old, new, new_root, old_root, proof, "swapped roots");
    refuse(old, new, old_root, new_root, &[], "empty proof");
    let mut longer = proof.to_vec();
    longer.push(*new_root);
    refuse(old, new, old_root, new_root, &longer, "trailing new root");
    let mut longer = vec![proof[0]];
    longer.extend_from_slice(proof);
    refuse(old, new, old_root, new_root, &longer, "preceding proof[0]");
    refuse(old, new, old_root, new_root, &proof[..proof.len() - 1], "truncated");
    for i in 0..proof.len() {
        let mut bad = proof.to_vec();
        let mut bytes = *bad[i].as_bytes();
        bytes[0] ^= 16;
        bad[i] = Hash::from_bytes(bytes);
        refuse(old, new, old_root, new_root, &bad, "flipped bit");
    }
}

#[test]
fn consistency_proofs_match_ct_vectors() {
    let tree = ct_tree();
    for (old, new, want) in CT_CONSISTENCY {
        let want = hashes(want);
        assert_eq!(consistency_proof(&tree, old, new).unwrap(), want, "consistency proof {old} → {new}");
        if old < new {
            assert_eq!(reference::proof(old as usize, &tree.leaf_hashes()[..new as usize]), want);
        }
        verify_consistency(old, new, &ct_root(old), &ct_root(new), &want).unwrap();
        if !want.is_empty() {
            assert_consistency_corruptions_fail(old, new, &ct_root(old), &ct_root(new), &want);
        }
    }
}

/// The edge cases of the CT verifier tests (MerkleVerifierTest.VerifyPath and
/// VerifyConsistencyProof), with our stricter reading of the empty old tree.
#[test]
fn verification_edge_cases() {
    let some = leaf_hash(b"some");
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert_eq!(verify_inclusion(&some, index, size, &[], &some), Err(VerifyError::IndexOutOfRange { index, size }));
    }
    // A one-leaf tree: the root is the leaf hash and the proof is empty.
    verify_inclusion(&some, 0, 1, &[], &some).unwrap();
    assert_eq!(verify_inclusion(&some, 0, 1, &[], &empty_root()), Err(VerifyError::InclusionMismatch));
    assert_eq!(verify_inclusion(&some, 0, 1, &[some], &some), Err(VerifyError::WrongProofLength));
    assert_eq!(verify_inclusion(&some, 0, 2, &[], &some), Err(VerifyError::WrongProofLength));

    let (r1, r2) = (leaf_hash(b"1"), leaf_hash(b"2"));
    // Always consistent: equal sizes with equal roots, and the empty tree.
    verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).unwrap();
    verify_consistency(1, 1, &r1, &r1, &[]).unwrap();
    verify_consistency(0, 5, &empty_root(), &r2, &[]).unwrap();
    // The empty tree has one root only.
    assert_eq!(verify_consistency(0, 5, &r1, &r2, &[]), Err(VerifyError::ConsistencyMismatch));
    assert_eq!(verify_consistency(1, 1, &r1, &r2, &[]), Err(VerifyError::ConsistencyMismatch));
    // Roots match but the proof is not empty.
    assert_eq!(verify_consistency(1, 1, &r1, &r1, &[r1]), Err(VerifyError::WrongProofLength));
    assert_eq!(verify_consistency(0, 1, &empty_root(), &r1, &[r1]), Err(VerifyError::WrongProofLength));
    // Time travel.
    assert_eq!(verify_consistency(2, 1, &r1, &r2, &[]), Err(VerifyError::SizesOutOfOrder { old: 2, new: 1 }));
    // A real step needs a proof.
    assert_eq!(verify_consistency(1, 2, &r1, &r2, &[]), Err(VerifyError::WrongProofLength));
}

#[test]
fn proofs_refuse_bad_arguments() {
    let tree = ct_tree();
    assert!(matches!(inclusion_proof(&tree, 0, 0), Err(ProofError::IndexOutOfRange { index: 0, size: 0 })));
    assert!(matches!(inclusion_proof(&tree, 7, 7), Err(ProofError::IndexOutOfRange { index: 7, size: 7 })));
    assert!(matches!(consistency_proof(&tree, 5, 4), Err(ProofError::SizesOutOfOrder { old: 5, new: 4 })));
    assert_eq!(consistency_proof(&tree, 0, 8).unwrap(), Vec::<Hash>::new());
    assert_eq!(consistency_proof(&tree, 8, 8).unwrap(), Vec::<Hash>::new());
    // Past the stored nodes, the source's error comes through.
    let err = inclusion_proof(&tree, 0, 9).unwrap_err();
    assert!(matches!(err, ProofError::Source(MissingNode { .. })), "{err:?}");
    assert!(err.to_string().contains("cannot read"));
}

// ---------------------------------------------------------------------------------------------
// Hash and Frontier.
// ---------------------------------------------------------------------------------------------

#[test]
fn hash_hex_round_trip_and_errors() {
    let x = leaf_hash(b"x");
    assert_eq!(Hash::from_hex(&x.to_hex()).unwrap(), x);
    assert_eq!(Hash::from_hex(&x.to_hex().to_uppercase()).unwrap(), x);
    assert_eq!(format!("{x:?}"), format!("Hash({})", x.to_hex()));
    assert_eq!(x.to_string(), x.to_hex());
    assert_eq!(Hash::from_hex("00"), Err(HashError::InvalidHex));
    assert_eq!(Hash::from_hex(&"g".repeat(64)), Err(HashError::InvalidHex));
    assert_eq!(Hash::from_hex(&"é".repeat(32)), Err(HashError::InvalidHex));
    assert_eq!(Hash::from_slice(x.as_bytes()).unwrap(), x);
    assert_eq!(Hash::from_slice(&[0; 31]), Err(HashError::WrongLength(31)));
}

#[test]
fn append_returns_every_completed_node() {
    let leaves: Vec<Hash> = (0u8..8).map(|i| leaf_hash(&[i])).collect();
    let tree = MemoryTree::from_leaf_hashes(leaves.clone());
    let mut frontier = Frontier::new();
    let addresses: Vec<Vec<(u8, u64)>> = leaves
        .iter()
        .map(|leaf| frontier.append(*leaf).unwrap().iter().map(|n| (n.level, n.index)).collect())
        .collect();
    assert_eq!(
        addresses,
        vec![
            vec![(0, 0)],
            vec![(0, 1), (1, 0)],
            vec![(0, 2)],
            vec![(0, 3), (1, 1), (2, 0)],
            vec![(0, 4)],
            vec![(0, 5), (1, 2)],
            vec![(0, 6)],
            vec![(0, 7), (1, 3), (2, 1), (3, 0)],
        ]
    );
    assert_eq!(frontier.hashes(), &[tree.node(3, 0).unwrap()]);
}

#[test]
fn frontier_stored_form_round_trips_and_refuses_garbage() {
    let mut frontier = Frontier::new();
    for i in 0u8..13 {
        frontier.append(leaf_hash(&[i])).unwrap();
    }
    let bytes = frontier.to_bytes();
    assert_eq!(bytes.len(), 8 + 32 * 3); // 13 = 0b1101
    assert_eq!(Frontier::from_bytes(&bytes).unwrap(), frontier);
    assert_eq!(Frontier::from_parts(13, frontier.hashes().to_vec()).unwrap(), frontier);
    assert_eq!(Frontier::from_bytes(&Frontier::new().to_bytes()).unwrap(), Frontier::new());
    assert_eq!(Frontier::from_bytes(&bytes[..bytes.len() - 1]), Err(FrontierError::Malformed));
    assert_eq!(Frontier::from_bytes(&bytes[..bytes.len() - 32]), Err(FrontierError::Malformed));
    assert_eq!(Frontier::from_bytes(&bytes[..7]), Err(FrontierError::Malformed));
    assert_eq!(Frontier::from_parts(12, frontier.hashes().to_vec()), Err(FrontierError::Malformed));
    let nodes: Vec<(u8, u64)> = frontier.nodes().map(|n| (n.level, n.index)).collect();
    assert_eq!(nodes, vec![(3, 0), (2, 2), (0, 12)]);
}

#[test]
fn a_full_frontier_refuses_to_append_and_stays_unchanged() {
    let full = Frontier::from_parts(u64::MAX, vec![empty_root(); 64]).unwrap();
    let mut after = full.clone();
    assert_eq!(after.append(leaf_hash(b"one too many")), Err(FrontierError::Full));
    assert_eq!(after, full);
    // The last possible append merges nothing (u64::MAX - 1 ends in a zero bit).
    let mut almost = Frontier::from_parts(u64::MAX - 1, vec![empty_root(); 63]).unwrap();
    assert_eq!(almost.append(leaf_hash(b"last")).unwrap().len(), 1);
    assert_eq!(almost.size(), u64::MAX);
}

// ---------------------------------------------------------------------------------------------
// Cross-checks against the reference definitions.
// ---------------------------------------------------------------------------------------------

/// Distinct leaves derived from a seed.
fn leaves(seed: u64, n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&[seed.to_be_bytes(), i.to_be_bytes()].concat())).collect()
}

/// A source that also enforces the [`NodeSource`] contract: it refuses any node that is not a
/// complete perfect subtree within `size`, and counts reads.
struct Strict<'a> {
    tree: &'a MemoryTree,
    size: u64,
    reads: Cell<u64>,
}

impl<'a> Strict<'a> {
    fn new(tree: &'a MemoryTree, size: u64) -> Self {
        Self { tree, size, reads: Cell::new(0) }
    }
}

impl NodeSource for Strict<'_> {
    type Error = MissingNode;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.reads.set(self.reads.get() + 1);
        let end = (index + 1).checked_shl(u32::from(level)).unwrap();
        assert!(end <= self.size, "read node ({level}, {index}) beyond size {}", self.size);
        self.tree.node(level, index)
    }
}

/// The number of bits of `n`: the height of the tree of `n` leaves, rounded up.
fn bits(n: u64) -> u64 {
    u64::from(64 - n.leading_zeros())
}

/// Every size up to 64, every index, every old size: the stored-node proofs equal the
/// reference definitions, verify, read only nodes within the size, and read `O(log n)` of them
/// (at most two per level).
#[test]
fn all_small_trees_match_the_reference() {
    let all = leaves(1, 64);
    let tree = MemoryTree::from_leaf_hashes(all.clone());
    for size in 1..=64u64 {
        let d = &all[..size as usize];
        let root_hash = reference::mth(d);
        let source = Strict::new(&tree, size);
        assert_eq!(root(&source, size).unwrap(), root_hash);
        for index in 0..size {
            let source = Strict::new(&tree, size);
            let proof = inclusion_proof(&source, index, size).unwrap();
            assert_eq!(proof, reference::path(index as usize, d), "path ({index}, {size})");
            assert!(source.reads.get() <= 2 * bits(size), "{} reads for ({index}, {size})", source.reads.get());
            verify_inclusion(&d[index as usize], index, size, &proof, &root_hash).unwrap();
            // The proof places this leaf at this index only (every other index, in small trees).
            if size <= 20 {
                for other in (0..size).filter(|&o| o != index) {
                    assert!(verify_inclusion(&d[index as usize], other, size, &proof, &root_hash).is_err());
                }
            }
        }
        for old in 1..size {
            let source = Strict::new(&tree, size);
            let proof = consistency_proof(&source, old, size).unwrap();
            assert_eq!(proof, reference::proof(old as usize, d), "proof {old} → {size}");
            assert!(source.reads.get() <= 2 * bits(size), "{} reads for {old} → {size}", source.reads.get());
            verify_consistency(old, size, &reference::mth(&d[..old as usize]), &root_hash, &proof).unwrap();
        }
    }
}

/// One log grown to 300 leaves: after every append the frontier's root is the reference MTH,
/// the nodes it handed out (stored in a map, as the database would) serve the same proofs as
/// the independently built [`MemoryTree`], and rebuilding the frontier from them gives the
/// same frontier.
#[test]
fn frontier_matches_reference_after_every_append_up_to_300() {
    let all = leaves(2, 300);
    let reference_tree = MemoryTree::from_leaf_hashes(all.clone());
    let mut stored: HashMap<(u8, u64), Hash> = HashMap::new();
    let mut frontier = Frontier::new();
    for (i, leaf) in all.iter().enumerate() {
        for node in frontier.append(*leaf).unwrap() {
            assert_eq!(reference_tree.node(node.level, node.index), Ok(node.hash));
            assert!(stored.insert((node.level, node.index), node.hash).is_none(), "node handed out twice");
        }
        let size = i as u64 + 1;
        assert_eq!(frontier.root(), reference::mth(&all[..=i]), "root at size {size}");
        let source = Strict::new(&reference_tree, size);
        assert_eq!(Frontier::from_source(&source, size).unwrap(), frontier);
        assert_eq!(source.reads.get(), u64::from(size.count_ones()));
        assert_eq!(Frontier::from_bytes(&frontier.to_bytes()).unwrap(), frontier);
        assert_eq!(Frontier::from_source(&MapSource(&stored), size).unwrap(), frontier);
    }
    // Every node of the full tree was handed out exactly once: 2n - popcount(n) of them.
    assert_eq!(stored.len() as u64, 2 * 300 - u64::from(300u64.count_ones()));
    let map = MapSource(&stored);
    for (index, size) in [(0, 300), (299, 300), (150, 257), (64, 65), (3, 4)] {
        assert_eq!(inclusion_proof(&map, index, size).unwrap(), inclusion_proof(&reference_tree, index, size).unwrap());
    }
    for (old, new) in [(1, 300), (299, 300), (100, 257), (64, 65), (128, 256)] {
        assert_eq!(consistency_proof(&map, old, new).unwrap(), consistency_proof(&reference_tree, old, new).unwrap());
    }
}

struct MapSource<'a>(&'a HashMap<(u8, u64), Hash>);

impl NodeSource for MapSource<'_> {
    type Error = MissingNode;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.0.get(&(level, index)).copied().ok_or(MissingNode { level, index })
    }
}

fn flip(hash: &Hash, bit: u8) -> Hash {
    let mut bytes = *hash.as_bytes();
    bytes[usize::from(bit / 8)] ^= 1 << (bit % 8);
    Hash::from_bytes(bytes)
}

/// A tree size in 1..=300 and a leaf index in it.
fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1u64..=300).prop_flat_map(|size| (Just(size), 0..size))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_verify_and_nothing_else_does(
        seed in any::<u64>(),
        (size, index) in size_and_index(),
        other in any::<u64>(),
        bit in any::<u8>(),
    ) {
        let all = leaves(seed, size + 1);
        let tree = MemoryTree::from_leaf_hashes(all.clone());
        let d = &all[..size as usize];
        let root_hash = reference::mth(d);
        let leaf = d[index as usize];
        let proof = inclusion_proof(&Strict::new(&tree, size), index, size).unwrap();
        prop_assert_eq!(&proof, &reference::path(index as usize, d));
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root_hash), Ok(()));

        // Another leaf at this index, this leaf at another index.
        let other_index = other % size;
        if other_index != index {
            prop_assert!(verify_inclusion(&d[other_index as usize], index, size, &proof, &root_hash).is_err());
            prop_assert!(verify_inclusion(&leaf, other_index, size, &proof, &root_hash).is_err());
        }
        // Another tree size, with that size's real root (a tree head names its size and root
        // together; with the old root, a size of the same shape can give the same answer).
        let other_size = index + 1 + other % (size + 1 - index);
        if other_size != size {
            let other_root = reference::mth(&all[..other_size as usize]);
            prop_assert!(verify_inclusion(&leaf, index, other_size, &proof, &other_root).is_err());
        }
        // Another root.
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&root_hash, bit)).is_err());
        // A tampered proof element.
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = (other % proof.len() as u64) as usize;
            bad[at] = flip(&bad[at], bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root_hash).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_nothing_else_does(
        seed in any::<u64>(),
        (size, old) in (1u64..=300).prop_flat_map(|size| (Just(size), 0..=size)),
        other in any::<u64>(),
        bit in any::<u8>(),
    ) {
        let all = leaves(seed, size);
        let tree = MemoryTree::from_leaf_hashes(all.clone());
        let new_root = reference::mth(&all);
        let old_root = reference::mth(&all[..old as usize]);
        let proof = consistency_proof(&Strict::new(&tree, size), old, size).unwrap();
        if 0 < old && old < size {
            prop_assert_eq!(&proof, &reference::proof(old as usize, &all));
        } else {
            prop_assert!(proof.is_empty());
        }
        prop_assert_eq!(verify_consistency(old, size, &old_root, &new_root, &proof), Ok(()));

        // Another root: the old one always matters; the new one unless the old tree is empty
        // (every tree extends the empty tree).
        prop_assert!(verify_consistency(old, size, &flip(&old_root, bit), &new_root, &proof).is_err());
        if old > 0 {
            prop_assert!(verify_consistency(old, size, &old_root, &flip(&new_root, bit), &proof).is_err());
        }
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = (other % proof.len() as u64) as usize;
            bad[at] = flip(&bad[at], bit);
            prop_assert!(verify_consistency(old, size, &old_root, &new_root, &bad).is_err());
            // Another old size, with its real root.
            let other_old = other % (size + 1);
            if other_old != old {
                let other_root = reference::mth(&all[..other_old as usize]);
                prop_assert!(verify_consistency(other_old, size, &other_root, &new_root, &proof).is_err());
            }
        }
    }

    #[test]
    fn frontier_rebuilt_from_nodes_equals_the_grown_one(seed in any::<u64>(), size in 0u64..=300) {
        let all = leaves(seed, size);
        let tree = MemoryTree::from_leaf_hashes(all.clone());
        let mut grown = Frontier::new();
        for leaf in &all {
            grown.append(*leaf).unwrap();
        }
        prop_assert_eq!(grown.root(), reference::mth(&all));
        prop_assert_eq!(root(&Strict::new(&tree, size), size).unwrap(), grown.root());
        prop_assert_eq!(Frontier::from_source(&Strict::new(&tree, size), size).unwrap(), grown.clone());
        prop_assert_eq!(Frontier::from_bytes(&grown.to_bytes()).unwrap(), grown);
    }
}
