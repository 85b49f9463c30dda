//! Conversions of the project messages: needs, resources and the projects that match them.

use jiceng_grpc::timestamp;
use jiceng_proto::grid as pb;

use super::to_proto;
use crate::domain::project::{
    Need, NeedState, Project, ProjectState, Provider, Resource, ResourceState, Side,
};

pub(crate) const NEED_STATES: &[(pb::NeedState, NeedState)] = &[
    (pb::NeedState::Open, NeedState::Open),
    (pb::NeedState::Matched, NeedState::Matched),
    (pb::NeedState::Met, NeedState::Met),
    (pb::NeedState::Withdrawn, NeedState::Withdrawn),
];

pub(crate) const RESOURCE_STATES: &[(pb::ResourceState, ResourceState)] = &[
    (pb::ResourceState::Available, ResourceState::Available),
    (pb::ResourceState::Matched, ResourceState::Matched),
    (pb::ResourceState::Withdrawn, ResourceState::Withdrawn),
];

pub(crate) const PROJECT_STATES: &[(pb::ProjectState, ProjectState)] = &[
    (pb::ProjectState::Proposed, ProjectState::Proposed),
    (pb::ProjectState::Declined, ProjectState::Declined),
    (pb::ProjectState::Active, ProjectState::Active),
    (pb::ProjectState::Completed, ProjectState::Completed),
    (pb::ProjectState::Cancelled, ProjectState::Cancelled),
];

pub(crate) fn need_to_proto(need: &Need) -> pb::Need {
    pb::Need {
        id: need.id.clone(),
        org_id: need.org_id.clone(),
        title: need.title.clone(),
        description: need.description.clone(),
        category: need.category.clone(),
        state: to_proto(NEED_STATES, need.state, pb::NeedState::Unspecified) as i32,
        posted_by: need.posted_by.clone(),
        etag: jiceng_grpc::etag_of(need.version),
        create_time: Some(timestamp(need.created_at)),
    }
}

pub(crate) fn resource_to_proto(resource: &Resource) -> pb::Resource {
    pb::Resource {
        id: resource.id.clone(),
        provider: Some(match &resource.provider {
            Provider::Org(org) => pb::resource::Provider::ProviderOrgId(org.clone()),
            Provider::Member(member) => pb::resource::Provider::ProviderMemberId(member.clone()),
        }),
        org_id: resource.org_id.clone(),
        title: resource.title.clone(),
        description: resource.description.clone(),
        category: resource.category.clone(),
        state: to_proto(
            RESOURCE_STATES,
            resource.state,
            pb::ResourceState::Unspecified,
        ) as i32,
        etag: jiceng_grpc::etag_of(resource.version),
        create_time: Some(timestamp(resource.created_at)),
    }
}

pub(crate) fn project_to_proto(project: &Project) -> pb::Project {
    let (provider_org_id, provider_member_id) = match &project.provider {
        Provider::Org(org) => (org.clone(), String::new()),
        Provider::Member(member) => (String::new(), member.clone()),
    };
    pb::Project {
        id: project.id.clone(),
        need_id: project.need_id.clone(),
        resource_id: project.resource_id.clone(),
        org_id: project.org_id.clone(),
        title: project.title.clone(),
        state: to_proto(PROJECT_STATES, project.state, pb::ProjectState::Unspecified) as i32,
        proposed_by_side: match project.proposed_by_side {
            Side::Need => pb::ProjectSide::Need,
            Side::Resource => pb::ProjectSide::Resource,
        } as i32,
        proposed_by: project.proposed_by.clone(),
        proposal_note: project.proposal_note.clone(),
        answered_by: project.answered_by.clone(),
        outcome: project.outcome.clone(),
        etag: jiceng_grpc::etag_of(project.version),
        create_time: Some(timestamp(project.created_at)),
        start_time: project.started_at.map(timestamp),
        end_time: project.ended_at.map(timestamp),
        provider_org_id,
        provider_member_id,
    }
}
