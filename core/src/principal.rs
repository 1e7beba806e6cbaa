//! Who pays: the budget principal from `identity.arn`. An IAM user is itself; an assumed-role
//! session belongs to its role (`arn:<partition>:iam::<acct>:role/<name>`, all sessions) and is
//! also its own session key. `requestMetadata` never enters here: it is caller-supplied.

use spendguard_schemas::PrincipalType;
use std::borrow::Cow;

/// The parsed caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal<'a> {
    pub kind: PrincipalType,
    /// The budget key: the user ARN, or the role ARN for a role session.
    pub principal: Cow<'a, str>,
    /// The role session name (caller-chosen unless pinned by the trust policy or SSO).
    pub session_name: Option<&'a str>,
    /// The account in the ARN, when it has one.
    pub account: Option<&'a str>,
}

/// Parses `identity.arn`. Never fails: an ARN we do not recognise is its own principal of kind
/// `other`, so its spend is still counted and attributable.
pub fn parse(arn: &str) -> Principal<'_> {
    let other = || Principal {
        kind: PrincipalType::Other,
        principal: Cow::Borrowed(arn),
        session_name: None,
        account: None,
    };
    let Some(rest) = arn.strip_prefix("arn:") else {
        return other();
    };
    let mut p = rest.splitn(5, ':');
    let (Some(partition), Some(service), Some(_region), Some(account), Some(resource)) =
        (p.next(), p.next(), p.next(), p.next(), p.next())
    else {
        return other();
    };
    match (service, resource) {
        ("iam", "root") => Principal {
            kind: PrincipalType::Root,
            principal: Cow::Borrowed(arn),
            session_name: None,
            account: Some(account),
        },
        ("iam", r) if r.starts_with("user/") => Principal {
            kind: PrincipalType::IamUser,
            principal: Cow::Borrowed(arn),
            session_name: None,
            account: Some(account),
        },
        ("sts", r) if r.starts_with("assumed-role/") => {
            let mut it = r["assumed-role/".len()..].splitn(2, '/');
            match (it.next(), it.next()) {
                (Some(role), Some(session)) if !role.is_empty() && !session.is_empty() => {
                    Principal {
                        kind: PrincipalType::AssumedRole,
                        principal: Cow::Owned(format!(
                            "arn:{partition}:iam::{account}:role/{role}"
                        )),
                        session_name: Some(session),
                        account: Some(account),
                    }
                }
                _ => Principal {
                    account: Some(account),
                    ..other()
                },
            }
        }
        _ => Principal {
            account: Some(account),
            ..other()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_roles_root_and_others() {
        let u = parse("arn:aws:iam::111122223333:user/dev/alice");
        assert_eq!(u.kind, PrincipalType::IamUser);
        assert_eq!(u.principal, "arn:aws:iam::111122223333:user/dev/alice");
        assert_eq!(u.session_name, None);

        let r = parse("arn:aws:sts::111122223333:assumed-role/DataScience/bob@example.com");
        assert_eq!(r.kind, PrincipalType::AssumedRole);
        assert_eq!(r.principal, "arn:aws:iam::111122223333:role/DataScience");
        assert_eq!(r.session_name, Some("bob@example.com"));
        assert_eq!(r.account, Some("111122223333"));

        let g = parse("arn:aws-us-gov:sts::111122223333:assumed-role/R/s");
        assert_eq!(g.principal, "arn:aws-us-gov:iam::111122223333:role/R");

        assert_eq!(
            parse("arn:aws:iam::111122223333:root").kind,
            PrincipalType::Root
        );
        let f = parse("arn:aws:sts::111122223333:federated-user/carol");
        assert_eq!(f.kind, PrincipalType::Other);
        assert_eq!(
            f.principal,
            "arn:aws:sts::111122223333:federated-user/carol"
        );
        assert_eq!(parse("").kind, PrincipalType::Other);
        assert_eq!(
            parse("arn:aws:sts::1:assumed-role/OnlyRole").kind,
            PrincipalType::Other
        );
    }
}
