//! The platform through PgBouncer, as a district puts it between its pods and PostgreSQL: the
//! tree's and the log's advisory locks, the outboxes' claims and the witness, with writers
//! racing one another through the pooler.
//!
//! The platform's driver prepares every statement, so transaction pooling needs PgBouncer 1.21
//! or later with `max_prepared_statements` (what CloudNativePG's `Pooler` runs); with an older
//! PgBouncer (Debian 12's 1.18, what CI installs) only session pooling works, and the
//! transaction-mode scenario runs only where a newer one is installed:
//! docs/operations/CONNECTIONS.md.

use crate::common;

use common::{Platform, create};
use jiceng_auth::Role;
use jiceng_property::store::log::Witnessing;
use jiceng_proto::{
    org::{self as org_pb, UnitKind},
    property::{
        self as pb, disclosure_service_client::DisclosureServiceClient,
        property_service_client::PropertyServiceClient,
    },
};
use jiceng_testkit::{
    Bearer, TestDatabase, bearer, eventually,
    pgbouncer::{PgBouncer, PoolMode},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_serves_through_pgbouncer_pooling_sessions() {
    serves_through(PoolMode::Session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_serves_through_pgbouncer_pooling_transactions() {
    if !PgBouncer::tracks_prepared_statements() {
        eprintln!("skipped: the installed PgBouncer predates max_prepared_statements (1.21)");
        return;
    }
    serves_through(PoolMode::Transaction).await;
}

async fn serves_through(mode: PoolMode) {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let Some(bouncer) = PgBouncer::start(&db.url, mode) else {
        return;
    };
    let url = bouncer.url_for(&db.url);
    // In session mode each client connection holds a server connection for its life: the
    // pooler's pool must have room for every service's pool, or callers wait for ever.
    let platform = Platform::start_pooled(db, url, 4).await;
    let mut org = platform.admin().await;
    let town = create(
        &mut org,
        &platform.root_id,
        UnitKind::TownCommittee,
        "高行镇党委",
    )
    .await
    .id;
    let other_town = create(
        &mut org,
        &platform.root_id,
        UnitKind::TownCommittee,
        "高东镇党委",
    )
    .await
    .id;
    let committee = create(
        &mut org,
        &town,
        UnitKind::ResidentialCommittee,
        "东沟新村居民区党总支",
    )
    .await
    .id;
    // A move takes the tree's exclusive lock and its event goes through every consumer.
    org.move_unit(org_pb::MoveUnitRequest {
        id: committee.clone(),
        new_parent_id: other_town.clone(),
        ..Default::default()
    })
    .await
    .expect("move");

    let town_admin = Bearer::new(&bearer("town-admin", &[Role::StreetAdmin], &other_town));
    let mut property = platform
        .client_as(town_admin, PropertyServiceClient::new)
        .await;
    let company = property
        .create_company(pb::CreateCompanyRequest {
            company: Some(pb::Company {
                name: "高东物业".into(),
                credit_code: "91310115MA1H7XYX0X".into(),
                org_id: other_town.clone(),
                supervision_hotline: "021-58681234".into(),
                repair_hotline: "021-58685678".into(),
                publishers: vec!["publisher-1".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("company")
        .into_inner();
    // The committee is the town's only since the move: its admin may register the compound.
    let compound = property
        .create_compound(pb::CreateCompoundRequest {
            compound: Some(pb::Compound {
                name: "东沟新村".into(),
                address: "东沟路100弄".into(),
                org_id: committee.clone(),
                company_id: company.id.clone(),
                owners_committee: "东沟新村业主委员会".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("compound")
        .into_inner();

    // Eight publishers at once: each append waits for the log's lock on its own pooled
    // connection, and the log comes out whole.
    let publisher = Bearer::new(&bearer("publisher-1", &[Role::Member], &committee));
    let mut publishing = Vec::new();
    for day in 1..=8 {
        let client = platform
            .client_as(publisher.clone(), DisclosureServiceClient::new)
            .await;
        let compound = compound.id.clone();
        publishing.push(tokio::spawn(async move {
            let mut client = client;
            client
                .publish_disclosure(pb::PublishDisclosureRequest {
                    disclosure: Some(pb::Disclosure {
                        compound_id: compound,
                        period: format!("2026-10-{day:02}"),
                        content: Some(pb::disclosure::Content::Hotlines(pb::Hotlines {
                            supervision: "021-58681234".into(),
                            repair: "021-58685678".into(),
                        })),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .map(|published| published.into_inner().leaf_index)
        }));
    }
    let mut leaves = Vec::new();
    for task in publishing {
        leaves.push(task.await.expect("publisher").expect("publish"));
    }
    leaves.sort_unstable();
    assert_eq!(leaves, (0..8).collect::<Vec<_>>());
    let mut reader = platform
        .client_as(publisher, DisclosureServiceClient::new)
        .await;
    let head = reader
        .get_signed_tree_head(pb::GetSignedTreeHeadRequest::default())
        .await
        .expect("head")
        .into_inner();
    assert_eq!(head.tree_size, 8);
    reader
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            first_size: 3,
            second_size: 8,
        })
        .await
        .expect("consistency");
    let witnessed = eventually(std::time::Duration::from_secs(10), || async {
        matches!(
            platform.property.witnessing(),
            Witnessing::Holds { size: 8, .. }
        )
        .then_some(())
    })
    .await;
    assert!(witnessed.is_some(), "the witness took the log's head");
    platform.settle().await;
    assert!(
        !bouncer.log().contains("ERROR"),
        "PgBouncer logged errors: {}",
        bouncer.log()
    );
}
