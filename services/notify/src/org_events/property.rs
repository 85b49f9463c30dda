//! The property service's events: disclosures coming due.

use jiceng_org_client::OrgDirectory;
use jiceng_proto::{cloudevents::CloudEvent, event_types, property as pb};

use super::{Outcome, Publication, RecipientSpec, secretary_of, vars};
use crate::domain::Priority;

/// `DISCLOSURE_DUE` and `DISCLOSURE_OVERDUE`: the compound's publishers hear of the deadline,
/// and once it passed the owners' committee's secretary too.
pub(super) async fn disclosure_deadline(event: &CloudEvent, _org: &OrgDirectory) -> Outcome {
    let due: pb::DisclosureDue = event_types::data_of(event)?;
    let Some(item) = &due.item else {
        return Ok(None);
    };
    let overdue = event.r#type == event_types::DISCLOSURE_OVERDUE;
    let what = match pb::DisclosureKind::try_from(item.kind) {
        Ok(pb::DisclosureKind::FeeStandard) => "物业费收费标准",
        Ok(pb::DisclosureKind::FeeCollection) => "物业费收缴情况",
        Ok(pb::DisclosureKind::PublicRevenue) => "公共收益",
        Ok(pb::DisclosureKind::MaintenanceFund) => "维修资金",
        Ok(pb::DisclosureKind::Document) => "合同与证照",
        Ok(pb::DisclosureKind::Hotlines) => "服务热线",
        _ => "公示事项",
    };
    let due_time = item.due_time.unwrap_or_default();
    // The due time in Beijing, to the day.
    let day = (due_time.seconds + 8 * 3_600).div_euclid(86_400);
    let (year, month, date) = jiceng_telemetry::civil_from_days(day);
    let mut recipients: Vec<RecipientSpec> = due
        .publishers
        .iter()
        .map(|p| RecipientSpec::Member(p.clone()))
        .collect();
    if overdue {
        recipients.push(secretary_of(&due.committee_org_id));
    }
    Ok(Some(Publication {
        category: if overdue {
            "property.disclosure.overdue"
        } else {
            "property.disclosure.due"
        },
        priority: if overdue {
            Priority::Urgent
        } else {
            Priority::High
        },
        variables: vars(&[
            ("compound", due.compound_name.clone()),
            ("item", what.to_owned()),
            ("period", item.period.clone()),
            ("due", format!("{year}年{month}月{date}日")),
        ]),
        link: format!("compounds/{}/disclosures", item.compound_id),
        recipients,
    }))
}
