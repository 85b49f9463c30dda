//! Three-party linkage (三方联动): who sits at a compound's joint meeting, the decisions it
//! hands out, and the weighted assessment of property companies with its ranking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One of the three parties of a compound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// 居委会.
    ResidentsCommittee,
    /// 业委会.
    OwnersCommittee,
    /// 物业公司.
    Company,
}

impl Party {
    pub const ALL: [Party; 3] = [
        Self::ResidentsCommittee,
        Self::OwnersCommittee,
        Self::Company,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResidentsCommittee => "residents_committee",
            Self::OwnersCommittee => "owners_committee",
            Self::Company => "company",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub party: Party,
    pub name: String,
}

/// The parties missing from a meeting's attendance: a three-party meeting has all three.
pub fn missing_parties(attendees: &[Attendee]) -> Vec<Party> {
    Party::ALL
        .into_iter()
        .filter(|party| !attendees.iter().any(|a| a.party == *party))
        .collect()
}

/// Where a decision stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionState {
    Open,
    Done,
    Dropped,
}

impl DecisionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Done => "done",
            Self::Dropped => "dropped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Done, Self::Dropped]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub meeting_id: String,
    pub text: String,
    pub owner: Party,
    pub due_at: Option<i64>,
    pub state: DecisionState,
    pub follow_up: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meeting {
    pub id: String,
    pub compound_id: String,
    pub title: String,
    pub agenda: String,
    pub scheduled_at: i64,
    pub held_at: Option<i64>,
    pub attendees: Vec<Attendee>,
    pub minutes: String,
    pub decisions: Vec<Decision>,
}

/// An assessment criterion with its weight in percent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    pub code: String,
    pub name: String,
    pub weight: i64,
}

/// Why criteria cannot make an assessment: codes must be distinct and the weights positive and
/// adding up to 100.
pub fn criteria_problem(criteria: &[Criterion]) -> Option<String> {
    if criteria.is_empty() {
        return Some("an assessment has at least one criterion".into());
    }
    let mut codes: Vec<&str> = criteria.iter().map(|c| c.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    if codes.len() != criteria.len() {
        return Some("criterion codes must be distinct".into());
    }
    if criteria.iter().any(|c| c.weight <= 0) {
        return Some("every weight is positive".into());
    }
    let sum: i64 = criteria.iter().map(|c| c.weight).sum();
    (sum != 100).then(|| format!("the weights add up to {sum}, not 100"))
}

/// The weighted total of `scores` (each 0 to 100) in hundredths of a point (0 to 10,000), or
/// why the scores do not fit the criteria: one score per criterion, nothing else.
pub fn weighted_total(
    criteria: &[Criterion],
    scores: &BTreeMap<String, i64>,
) -> Result<i64, String> {
    if let Some(extra) = scores
        .keys()
        .find(|code| !criteria.iter().any(|c| &c.code == *code))
    {
        return Err(format!("{extra} is not a criterion of this assessment"));
    }
    let mut total = 0;
    for criterion in criteria {
        let score = *scores
            .get(&criterion.code)
            .ok_or_else(|| format!("{} has no score", criterion.code))?;
        if !(0..=100).contains(&score) {
            return Err(format!("{} must be scored 0 to 100", criterion.code));
        }
        total += score * criterion.weight;
    }
    Ok(total)
}

/// Ranks of `totals` sorted best first: equal totals share a rank, the next rank skips (1, 2,
/// 2, 4).
pub fn ranks(totals: &[i64]) -> Vec<usize> {
    let mut ranks = Vec::with_capacity(totals.len());
    for (at, total) in totals.iter().enumerate() {
        let rank = if at > 0 && totals[at - 1] == *total {
            ranks[at - 1]
        } else {
            at + 1
        };
        ranks.push(rank);
    }
    ranks
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub id: String,
    pub org_id: String,
    pub org_path: String,
    pub period: String,
    pub criteria: Vec<Criterion>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Score {
    pub assessment_id: String,
    pub company_id: String,
    pub scores: BTreeMap<String, i64>,
    /// Hundredths of a point, 0 to 10,000.
    pub total: i64,
    pub comment: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub assessment_id: String,
    pub company_id: String,
    /// `reward` or `rectification`.
    pub kind: String,
    pub text: String,
    pub due_at: Option<i64>,
    pub issued_by: String,
    pub issued_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria() -> Vec<Criterion> {
        [("service", 40), ("disclosure", 30), ("satisfaction", 30)]
            .into_iter()
            .map(|(code, weight)| Criterion {
                code: code.into(),
                name: code.into(),
                weight,
            })
            .collect()
    }

    #[test]
    fn weights_add_up_and_totals_are_weighted() {
        assert_eq!(criteria_problem(&criteria()), None);
        let mut unbalanced = criteria();
        unbalanced[0].weight = 50;
        assert_eq!(
            criteria_problem(&unbalanced).as_deref(),
            Some("the weights add up to 110, not 100")
        );
        let scores: BTreeMap<String, i64> =
            [("service", 90), ("disclosure", 80), ("satisfaction", 70)]
                .into_iter()
                .map(|(c, s)| (c.to_owned(), s))
                .collect();
        assert_eq!(weighted_total(&criteria(), &scores), Ok(8_100));
        let mut missing = scores.clone();
        missing.remove("service");
        assert!(weighted_total(&criteria(), &missing).is_err());
        let mut extra = scores;
        extra.insert("bonus".into(), 10);
        assert!(weighted_total(&criteria(), &extra).is_err());
    }

    #[test]
    fn equal_totals_share_a_rank() {
        assert_eq!(ranks(&[9_000, 8_500, 8_500, 7_000]), [1, 2, 2, 4]);
        assert!(
            missing_parties(&[Attendee {
                party: Party::Company,
                name: "周某".into()
            }])
            .contains(&Party::OwnersCommittee)
        );
    }
}
