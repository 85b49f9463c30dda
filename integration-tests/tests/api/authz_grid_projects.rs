//! The grid_projects service's authorization matrix (micro-wishes and the needs, resources and
//! projects lists): see `authz/mod.rs`.

use crate::authz;

use authz::{Fixture, Row, Side};
use jiceng_auth::Role;
use jiceng_proto::grid as pb;
use jiceng_testkit::Bearer;
use tonic::{service::interceptor::InterceptedService, transport::Channel};

type Wishes = pb::wish_service_client::WishServiceClient<InterceptedService<Channel, Bearer>>;
type Projects =
    pb::project_service_client::ProjectServiceClient<InterceptedService<Channel, Bearer>>;

/// Targets the read-only rows share: each lies in street A's branch and is never moved.
struct Extra {
    /// Collected but not yet published, so only readers of its org see it at all.
    wish: String,
    need: String,
    resource: String,
    /// Proposed by the community for street A's member's resource.
    project: String,
}

async fn setup(f: &Fixture) -> Extra {
    let wish = collected_wish(f).await;
    let need = open_need(f).await;
    let resource = unit_resource(f).await;
    let project = proposed_by_community(f).await;
    Extra {
        wish,
        need,
        resource,
        project,
    }
}

async fn wishes_as_admin<X>(f: &Fixture<X>) -> Wishes {
    f.admin(pb::wish_service_client::WishServiceClient::new)
        .await
}

async fn projects_as_admin<X>(f: &Fixture<X>) -> Projects {
    f.admin(pb::project_service_client::ProjectServiceClient::new)
        .await
}

async fn as_street_a_member<X, C>(
    f: &Fixture<X>,
    make: impl FnOnce(InterceptedService<Channel, Bearer>) -> C,
) -> C {
    f.as_role(Role::Member, Side::In, make).await
}

async fn collected_wish<X>(f: &Fixture<X>) -> String {
    wishes_as_admin(f)
        .await
        .collect_wish(pb::CollectWishRequest {
            title: "一台助听器".into(),
            description: "独居老人听力下降".into(),
            beneficiary_name: "王小明".into(),
            beneficiary_phone: "13812345678".into(),
            org_id: f.a.branch.clone(),
            ..Default::default()
        })
        .await
        .expect("collect")
        .into_inner()
        .id
}

async fn verified_wish<X>(f: &Fixture<X>) -> String {
    let id = collected_wish(f).await;
    wishes_as_admin(f)
        .await
        .verify_wish(pb::VerifyWishRequest {
            wish_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("verify");
    id
}

async fn published_wish<X>(f: &Fixture<X>) -> String {
    let id = verified_wish(f).await;
    wishes_as_admin(f)
        .await
        .publish_wish(pb::PublishWishRequest {
            wish_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");
    id
}

/// Claimed by street A's member for themself.
async fn member_claimed_wish<X>(f: &Fixture<X>) -> String {
    let id = published_wish(f).await;
    as_street_a_member(f, pb::wish_service_client::WishServiceClient::new)
        .await
        .claim_wish(pb::ClaimWishRequest {
            wish_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("claim");
    id
}

/// Claimed by street A's member, fulfilled, awaiting the collecting org's confirmation.
async fn member_fulfilled_wish<X>(f: &Fixture<X>) -> String {
    let id = member_claimed_wish(f).await;
    as_street_a_member(f, pb::wish_service_client::WishServiceClient::new)
        .await
        .fulfil_wish(pb::FulfilWishRequest {
            wish_id: id.clone(),
            evidence_urls: vec!["https://files.example/gift.jpg".into()],
            ..Default::default()
        })
        .await
        .expect("fulfil");
    id
}

/// Claimed by street B's member naming street A's member as a fellow, who has not answered.
async fn group_claimed_wish<X>(f: &Fixture<X>) -> String {
    let id = published_wish(f).await;
    f.as_role(
        Role::Member,
        Side::Out,
        pb::wish_service_client::WishServiceClient::new,
    )
    .await
    .claim_wish(pb::ClaimWishRequest {
        wish_id: id.clone(),
        participant_member_ids: vec![f.a.member.clone()],
        ..Default::default()
    })
    .await
    .expect("group claim");
    id
}

/// Claimed, fulfilled and confirmed for street A's branch, so no member is owed points.
async fn confirmed_wish<X>(f: &Fixture<X>) -> String {
    let id = published_wish(f).await;
    let mut wishes = wishes_as_admin(f).await;
    wishes
        .claim_wish(pb::ClaimWishRequest {
            wish_id: id.clone(),
            org_id: f.a.branch.clone(),
            ..Default::default()
        })
        .await
        .expect("claim");
    wishes
        .fulfil_wish(pb::FulfilWishRequest {
            wish_id: id.clone(),
            evidence_urls: vec!["https://files.example/gift.jpg".into()],
            ..Default::default()
        })
        .await
        .expect("fulfil");
    wishes
        .confirm_wish_fulfilment(pb::ConfirmWishFulfilmentRequest {
            wish_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("confirm");
    id
}

async fn followed_up_wish<X>(f: &Fixture<X>) -> String {
    let id = confirmed_wish(f).await;
    wishes_as_admin(f)
        .await
        .follow_up_wish(pb::FollowUpWishRequest {
            wish_id: id.clone(),
            note: "老人已用上助听器".into(),
            ..Default::default()
        })
        .await
        .expect("follow up");
    id
}

async fn open_need<X>(f: &Fixture<X>) -> String {
    projects_as_admin(f)
        .await
        .post_need(pb::PostNeedRequest {
            org_id: f.a.branch.clone(),
            title: "上门理发".into(),
            category: "助老".into(),
            ..Default::default()
        })
        .await
        .expect("need")
        .into_inner()
        .id
}

/// Offered by street A's branch.
async fn unit_resource<X>(f: &Fixture<X>) -> String {
    projects_as_admin(f)
        .await
        .offer_resource(pb::OfferResourceRequest {
            provider_org_id: f.a.branch.clone(),
            title: "党群服务站活动室".into(),
            category: "场地".into(),
            ..Default::default()
        })
        .await
        .expect("unit resource")
        .into_inner()
        .id
}

/// Offered by street A's member, so listed in their branch.
async fn member_resource<X>(f: &Fixture<X>) -> String {
    as_street_a_member(f, pb::project_service_client::ProjectServiceClient::new)
        .await
        .offer_resource(pb::OfferResourceRequest {
            title: "理发手艺".into(),
            category: "助老".into(),
            ..Default::default()
        })
        .await
        .expect("member resource")
        .into_inner()
        .id
}

/// A fresh need of street A's branch with a fresh resource of street A's member.
async fn proposal<X>(f: &Fixture<X>) -> pb::ProposeProjectRequest {
    pb::ProposeProjectRequest {
        need_id: open_need(f).await,
        resource_id: member_resource(f).await,
        note: "请每月第一个周二上门".into(),
        ..Default::default()
    }
}

/// The community claimed the member's resource: the member answers.
async fn proposed_by_community<X>(f: &Fixture<X>) -> String {
    let request = proposal(f).await;
    projects_as_admin(f)
        .await
        .propose_project(request)
        .await
        .expect("propose as the community")
        .into_inner()
        .id
}

/// The member claimed the community's need: the community answers.
async fn proposed_by_member<X>(f: &Fixture<X>) -> String {
    let request = proposal(f).await;
    as_street_a_member(f, pb::project_service_client::ProjectServiceClient::new)
        .await
        .propose_project(request)
        .await
        .expect("propose as the provider")
        .into_inner()
        .id
}

async fn active_project<X>(f: &Fixture<X>) -> String {
    let id = proposed_by_community(f).await;
    as_street_a_member(f, pb::project_service_client::ProjectServiceClient::new)
        .await
        .accept_project(pb::AcceptProjectRequest {
            project_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("accept");
    id
}

fn wish_rows() -> Vec<Row<Extra>> {
    vec![
        row!(
            "/jiceng.grid.v1.WishService/CollectWish",
            [Admins, GridWorker],
            Subtree,
            |f| pb::CollectWishRequest {
                title: "一台轮椅".into(),
                beneficiary_name: "李大爷".into(),
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        // The resident's details in clear: only the collecting org's admins, not its readers.
        row!(
            "/jiceng.grid.v1.WishService/GetWish",
            [Admins],
            Subtree,
            |f| pb::GetWishRequest {
                id: f.x.wish.clone(),
                reveal_beneficiary: true,
                reveal_reason: "核实身份".into(),
            }
        ),
        row!(
            "/jiceng.grid.v1.WishService/ListWishes",
            [Admins, GridWorker, Service, Integration],
            Subtree,
            |f| pb::ListWishesRequest {
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.WishService/VerifyWish",
            [Admins, GridWorker],
            Subtree,
            |f| pb::VerifyWishRequest {
                wish_id: collected_wish(&f).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.WishService/PublishWish",
            [Admins, GridWorker],
            Subtree,
            |f| pb::PublishWishRequest {
                wish_id: verified_wish(&f).await,
                ..Default::default()
            }
        ),
        // The org form of a claim: its admins claim for street A's branch.
        row!(
            "/jiceng.grid.v1.WishService/ClaimWish",
            [Admins],
            Subtree,
            |f| pb::ClaimWishRequest {
                wish_id: published_wish(&f).await,
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.WishService/FulfilWish",
            [Member],
            Subtree,
            |f| pb::FulfilWishRequest {
                wish_id: member_claimed_wish(&f).await,
                evidence_urls: vec!["https://files.example/gift.jpg".into()],
                ..Default::default()
            }
        ),
        // A fellow named in a group claim answers it: street A's member, named by street B's.
        row!(
            "/jiceng.grid.v1.WishService/AcceptWishClaim",
            [Member],
            Subtree,
            |f| pb::AcceptWishClaimRequest {
                wish_id: group_claimed_wish(&f).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.WishService/DeclineWishClaim",
            [Member],
            Subtree,
            |f| pb::DeclineWishClaimRequest {
                wish_id: group_claimed_wish(&f).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.WishService/ConfirmWishFulfilment",
            [Admins],
            Subtree,
            |f| pb::ConfirmWishFulfilmentRequest {
                wish_id: member_fulfilled_wish(&f).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.WishService/FollowUpWish",
            [Admins, GridWorker],
            Subtree,
            |f| pb::FollowUpWishRequest {
                wish_id: confirmed_wish(&f).await,
                note: "老人已用上轮椅".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.WishService/CloseWish",
            [Admins, GridWorker],
            Subtree,
            |f| pb::CloseWishRequest {
                wish_id: followed_up_wish(&f).await,
                ..Default::default()
            }
        ),
    ]
}

fn project_rows() -> Vec<Row<Extra>> {
    vec![
        row!(
            "/jiceng.grid.v1.ProjectService/PostNeed",
            [Admins],
            Subtree,
            |f| pb::PostNeedRequest {
                org_id: f.a.branch.clone(),
                title: "助学辅导".into(),
                category: "助学".into(),
                ..Default::default()
            }
        ),
        // The needs and resources lists are the district's public noticeboard.
        row!(
            "/jiceng.grid.v1.ProjectService/GetNeed",
            [Everyone],
            Anywhere,
            |f| pb::GetNeedRequest {
                id: f.x.need.clone(),
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/ListNeeds",
            [Everyone],
            Anywhere,
            |f| pb::ListNeedsRequest {
                org_id: f.a.street.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/WithdrawNeed",
            [Admins],
            Subtree,
            |f| pb::WithdrawNeedRequest {
                need_id: open_need(&f).await,
                ..Default::default()
            }
        ),
        // The unit form of an offer: admins offer street A's branch's resource.
        row!(
            "/jiceng.grid.v1.ProjectService/OfferResource",
            [Admins],
            Subtree,
            |f| pb::OfferResourceRequest {
                provider_org_id: f.a.branch.clone(),
                title: "志愿服务队".into(),
                category: "环境".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/GetResource",
            [Everyone],
            Anywhere,
            |f| pb::GetResourceRequest {
                id: f.x.resource.clone(),
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/ListResources",
            [Everyone],
            Anywhere,
            |f| pb::ListResourcesRequest {
                org_id: f.a.street.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/WithdrawResource",
            [Admins],
            Subtree,
            |f| pb::WithdrawResourceRequest {
                resource_id: unit_resource(&f).await,
                ..Default::default()
            }
        ),
        // The need's admins and the resource's member are the two sides that may propose.
        row!(
            "/jiceng.grid.v1.ProjectService/ProposeProject",
            [Admins, Member],
            Subtree,
            |f| proposal(&f).await
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/AcceptProject",
            [Admins],
            Subtree,
            |f| pb::AcceptProjectRequest {
                project_id: proposed_by_member(&f).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/DeclineProject",
            [Member],
            Subtree,
            |f| pb::DeclineProjectRequest {
                project_id: proposed_by_community(&f).await,
                reason: "近期外出，无法上门".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/CompleteProject",
            [Admins, Member],
            Subtree,
            |f| pb::CompleteProjectRequest {
                project_id: active_project(&f).await,
                outcome: "已为8位老人理发".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/CancelProject",
            [Admins, Member],
            Subtree,
            |f| pb::CancelProjectRequest {
                project_id: active_project(&f).await,
                reason: "老人已搬离".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/GetProject",
            [Everyone],
            Subtree,
            |f| pb::GetProjectRequest {
                id: f.x.project.clone(),
            }
        ),
        row!(
            "/jiceng.grid.v1.ProjectService/ListProjects",
            [Admins, GridWorker, Service, Integration],
            Subtree,
            |f| pb::ListProjectsRequest {
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grid_projects_rpc_admits_exactly_the_roles_and_scopes_its_row_names() {
    let base = Fixture::start().await;
    let extra = setup(&base).await;
    let mut rows = wish_rows();
    rows.extend(project_rows());
    authz::check("grid_projects", base.with(extra), rows).await;
}
