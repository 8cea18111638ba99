//! Page language: Japanese first, English available.

use axum::http::HeaderMap;

/// The languages of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 日本語 (default).
    Ja,
    /// English.
    En,
}

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "mamori_lang";

impl Lang {
    /// The BCP 47 tag.
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            Self::Ja => "ja",
            Self::En => "en",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "ja" => Some(Self::Ja),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The language asked for by `?lang=` (which also changes the cookie), else the cookie,
    /// else Japanese. Returns whether the cookie should be (re)set.
    #[must_use]
    pub fn negotiate(query_lang: Option<&str>, headers: &HeaderMap) -> (Self, bool) {
        if let Some(lang) = query_lang.and_then(Self::parse) {
            return (lang, true);
        }
        let from_cookie = crate::cookies::get(headers, LANG_COOKIE).and_then(Self::parse);
        (from_cookie.unwrap_or(Self::Ja), false)
    }

    /// The page texts in this language.
    #[must_use]
    pub const fn texts(self) -> &'static Texts {
        match self {
            Self::Ja => &JA,
            Self::En => &EN,
        }
    }
}

/// Every text of the page shell.
#[derive(Debug)]
pub struct Texts {
    /// Product tagline.
    pub tagline: &'static str,
    /// Heading of the start page.
    pub welcome: &'static str,
    /// What this page is.
    pub intro: &'static str,
    /// Heading of the status box.
    pub status_heading: &'static str,
    /// Label: institution.
    pub institution: &'static str,
    /// Label: database.
    pub database: &'static str,
    /// Label: connection.
    pub connection: &'static str,
    /// Value: encrypted connection.
    pub tls_on: &'static str,
    /// Value: unencrypted loopback connection.
    pub tls_off: &'static str,
    /// The login link.
    pub login_link: &'static str,
    /// Label of the API description link.
    pub api_link: &'static str,
    /// Footer.
    pub footer: &'static str,
    /// Heading of the not-found page.
    pub not_found: &'static str,
    /// Link back to the start page.
    pub back_home: &'static str,
}

static JA: Texts = Texts {
    tagline: "医療情報システムの安全管理に関するガイドライン準拠の診療記録サービス",
    welcome: "ようこそ",
    intro: "mamori（守り）は、医療機関の診療記録を安全に保存・閲覧するためのサービスです。",
    status_heading: "稼働状況",
    institution: "医療機関",
    database: "データベース",
    connection: "通信",
    tls_on: "暗号化（TLS 1.2以上）",
    tls_off: "非暗号化（ループバックのみ・開発用）",
    login_link: "ログイン（パスワード＋確認コード）",
    api_link: "API仕様（OpenAPI）",
    footer: "mamori — 医療情報システムの安全管理に関するガイドライン 6.0/7.0 対応",
    not_found: "ページが見つかりません",
    back_home: "トップへ戻る",
};

static EN: Texts = Texts {
    tagline: "Clinical records that meet Japan's medical information security guidelines",
    welcome: "Welcome",
    intro: "mamori (守り) stores and shows a medical institution's clinical records safely.",
    status_heading: "Status",
    institution: "Institution",
    database: "Database",
    connection: "Connection",
    tls_on: "encrypted (TLS 1.2 or later)",
    tls_off: "unencrypted (loopback only, for development)",
    login_link: "Log in (password + verification code)",
    api_link: "API description (OpenAPI)",
    footer: "mamori — built for the MHLW security guidelines 6.0/7.0",
    not_found: "Page not found",
    back_home: "Back to the start page",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn japanese_unless_asked_otherwise() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::negotiate(None, &headers), (Lang::Ja, false));
        assert_eq!(Lang::negotiate(Some("en"), &headers), (Lang::En, true));
        assert_eq!(Lang::negotiate(Some("fr"), &headers), (Lang::Ja, false));
        headers.insert(axum::http::header::COOKIE, HeaderValue::from_static("a=b; mamori_lang=en"));
        assert_eq!(Lang::negotiate(None, &headers), (Lang::En, false));
        assert_eq!(Lang::negotiate(Some("ja"), &headers), (Lang::Ja, true));
    }
}
