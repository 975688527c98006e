//! Role policies: which role a caller acts in, and whether that role may
//! make a given refund. Pure decisions; the daily limit and the rate are
//! counted elsewhere ([`crate::store`], [`crate::rate`]).

use crate::auth_file::RolePolicy;
use crate::token::Caller;

/// A refusal: the 403 `forbidden_by_policy` message, naming the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRefusal(pub String);

/// The roles of the auth file, in file order.
#[derive(Debug, Clone)]
pub struct Policies {
    roles: Vec<RolePolicy>,
}

impl Policies {
    /// The auth file's roles.
    pub fn new(roles: Vec<RolePolicy>) -> Self {
        Self { roles }
    }

    /// The role `caller` acts in: the first role of the auth file that the
    /// token carries. A token with no known role gets none.
    pub fn role_for(&self, caller: &Caller) -> Result<&RolePolicy, PolicyRefusal> {
        self.roles
            .iter()
            .find(|r| caller.roles.contains(&r.name))
            .ok_or_else(|| PolicyRefusal("the token carries no role this relay knows".to_owned()))
    }
}

impl RolePolicy {
    /// Checks one refund of `amount` (`None`: everything refundable) against
    /// the per-refund limits.
    pub fn check_refund(&self, amount: Option<i64>) -> Result<(), PolicyRefusal> {
        match (amount, self.max_amount) {
            (None, _) if !self.allow_full => Err(PolicyRefusal(format!(
                "allow_full: role {:?} may not refund without an amount",
                self.name
            ))),
            (Some(cents), Some(max)) if cents > max => Err(PolicyRefusal(format!(
                "max_amount: {cents} cents is more than role {:?} may refund at once ({max})",
                self.name
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, max: Option<i64>, full: bool) -> RolePolicy {
        RolePolicy {
            name: name.to_owned(),
            max_amount: max,
            allow_full: full,
            daily_limit: None,
            rate_per_minute: None,
        }
    }

    fn caller(roles: &[&str]) -> Caller {
        Caller {
            subject: "u1".to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn the_first_known_role_in_file_order_applies() {
        let p = Policies::new(vec![
            role("manager", None, true),
            role("cashier", Some(10), false),
        ]);
        let got = p.role_for(&caller(&["cashier", "manager"])).expect("known");
        assert_eq!(got.name, "manager");
        assert!(p.role_for(&caller(&["janitor"])).is_err());
        assert!(p.role_for(&caller(&[])).is_err());
    }

    #[test]
    fn amounts_over_the_maximum_and_unpermitted_full_refunds_are_refused() {
        let cashier = role("cashier", Some(500), false);
        assert!(cashier.check_refund(Some(500)).is_ok());
        let over = cashier.check_refund(Some(501)).expect_err("over");
        assert!(over.0.starts_with("max_amount"), "{over:?}");
        let full = cashier.check_refund(None).expect_err("full");
        assert!(full.0.starts_with("allow_full"), "{full:?}");
        assert!(role("manager", Some(1), true).check_refund(None).is_ok());
    }
}
