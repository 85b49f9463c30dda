//! Attacks with tokens a caller can come by, each refused through the API on both databases:
//! what the authorization matrix cannot show because the token itself is the attack.

mod common;

use common::Platform;
use jiceng_auth::{Claims, Role, TokenIssuer};
use jiceng_proto::org::{self as pb, org_service_client::OrgServiceClient};
use jiceng_testkit::{Bearer, TEST_DISTRICT, TEST_SECRET, TestDatabase, on_both_backends};
use tonic::Code;

/// A district admin's claims, valid for a day, for an attacker to bend.
fn admin_claims(platform: &Platform) -> Claims {
    Claims::new(
        "district-admin",
        TEST_DISTRICT,
        &platform.root_id,
        &[Role::DistrictAdmin],
        86_400,
    )
}

/// What `GetUnit` of the district root answers to a caller presenting `claims`.
async fn get_root_as(platform: &Platform, claims: &Claims) -> Result<(), Code> {
    let token = TokenIssuer::hs256(TEST_SECRET)
        .and_then(|issuer| issuer.mint(claims))
        .expect("mint");
    let mut org = platform
        .client_as(
            Bearer::new(&format!("Bearer {token}")),
            OrgServiceClient::new,
        )
        .await;
    org.get_unit(pb::GetUnitRequest {
        id: platform.root_id.clone(),
    })
    .await
    .map(|_| ())
    .map_err(|status| status.code())
}

async fn tokens_not_yet_valid_from_the_future_or_for_no_one_are_refused(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let valid = admin_claims(&platform);
    assert_eq!(get_root_as(&platform, &valid).await, Ok(()));
    let next_year = valid.iat + 365 * 86_400;
    let not_yet = Claims {
        nbf: Some(next_year),
        exp: next_year + 86_400,
        ..valid.clone()
    };
    assert_eq!(
        get_root_as(&platform, &not_yet).await,
        Err(Code::Unauthenticated),
        "a token not valid before next year"
    );
    let from_the_future = Claims {
        iat: valid.iat + 86_400,
        ..valid.clone()
    };
    assert_eq!(
        get_root_as(&platform, &from_the_future).await,
        Err(Code::Unauthenticated),
        "a token issued tomorrow"
    );
    let no_one = Claims {
        sub: String::new(),
        ..valid.clone()
    };
    assert_eq!(
        get_root_as(&platform, &no_one).await,
        Err(Code::Unauthenticated),
        "a token for no subject"
    );
}

async fn tokens_for_another_system_or_from_another_issuer_are_refused(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let valid = admin_claims(&platform);
    for (issuer, audience) in [
        (jiceng_auth::DEFAULT_ISSUER, "city-hotline-12345"),
        ("another-identity-provider", jiceng_auth::DEFAULT_AUDIENCE),
    ] {
        assert_eq!(
            get_root_as(&platform, &valid.clone().issued_by(issuer, audience)).await,
            Err(Code::Unauthenticated),
            "issued by {issuer} for {audience}"
        );
    }
}

async fn a_token_with_no_role_this_platform_knows_reads_nothing(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let unknown = Claims {
        roles: vec!["auditor".into()],
        ..admin_claims(&platform)
    };
    assert_eq!(
        get_root_as(&platform, &unknown).await,
        Err(Code::PermissionDenied)
    );
    let token = TokenIssuer::hs256(TEST_SECRET)
        .and_then(|issuer| issuer.mint(&unknown))
        .expect("mint");
    let searched = platform
        .client_as(
            Bearer::new(&format!("Bearer {token}")),
            OrgServiceClient::new,
        )
        .await
        .search_units(pb::SearchUnitsRequest {
            query: "浦东".into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|status| status.code());
    assert_eq!(searched, Err(Code::PermissionDenied));
}

on_both_backends!(
    tokens_not_yet_valid_from_the_future_or_for_no_one_are_refused,
    tokens_for_another_system_or_from_another_issuer_are_refused,
    a_token_with_no_role_this_platform_knows_reads_nothing,
);
