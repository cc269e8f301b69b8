//! The DNS-01 engine against a real BIND 9: zone discovery, CNAME following,
//! RFC 2136 updates with TSIG, and coalesced propagation checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use certgate::api::acme_dns01::{AcmeIssuerDns01ProviderRfc2136, Rfc2136Protocol};
use certgate::dns01::propagation::{Checker, Propagation, PropagationError};
use certgate::dns01::resolver::{Resolver, ResolverError};
use certgate::dns01::rfc2136::{Rfc2136Error, Rfc2136Provider};
use certgate::dns01::{Dns01Config, Provider, challenge_record_name, txt_value};
use common::bind::{Bind, ZoneSpec};

fn config(bind: &Bind) -> Dns01Config {
    Dns01Config {
        recursive_nameservers: vec![bind.addr().into()],
        authoritative_port: bind.port(),
        // A long poll period keeps the shared-answer window (half of it) wide
        // enough for the coalescing assertions on a slow machine.
        poll_period: Duration::from_secs(10),
        timeout: Duration::from_secs(20),
        query_timeout: Duration::from_secs(3),
        ..Dns01Config::default()
    }
}

fn rfc2136(bind: &Bind, secret: &str, protocol: Option<Rfc2136Protocol>) -> Rfc2136Provider {
    let cfg = AcmeIssuerDns01ProviderRfc2136 {
        nameserver: bind.addr().to_string(),
        tsig_secret_secret_ref: None,
        tsig_key_name: Some(bind.key_name().to_string()),
        tsig_algorithm: Some("HMACSHA256".into()),
        protocol,
    };
    Rfc2136Provider::new(&cfg, Some(secret.as_bytes())).unwrap()
}

fn provider(bind: &Bind) -> Rfc2136Provider {
    rfc2136(bind, bind.key_secret(), None)
}

#[tokio::test]
async fn soa_walk_finds_zones_and_sub_zones() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[
        ZoneSpec::new("example.com"),
        ZoneSpec::new("sub.example.com"),
    ]);
    let r = Resolver::new(&config(&bind)).unwrap();

    for (name, zone) in [
        ("_acme-challenge.a.b.c.example.com.", "example.com."),
        ("_acme-challenge.example.com.", "example.com."),
        ("example.com.", "example.com."),
        ("EXAMPLE.com", "example.com."),
        ("_acme-challenge.x.sub.example.com.", "sub.example.com."),
        ("_acme-challenge.sub.example.com.", "sub.example.com."),
        ("sub.example.com.", "sub.example.com."),
    ] {
        assert_eq!(r.find_zone(name).await.unwrap(), zone, "{name}");
    }

    let port = bind.port();
    assert_eq!(
        r.authoritative_nameservers("example.com.").await.unwrap(),
        vec![bind.addr()]
    );
    assert_eq!(
        r.authoritative_nameservers("sub.example.com.")
            .await
            .unwrap(),
        vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))]
    );

    // A deep name costs two queries: the negative answer names the zone.
    let before = r.queries_sent();
    r.find_zone("_acme-challenge.a.b.c.d.e.example.com.")
        .await
        .unwrap();
    assert_eq!(r.queries_sent() - before, 2);
}

#[tokio::test]
async fn unknown_zones_are_errors_naming_the_domain() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let r = Resolver::new(&config(&bind)).unwrap();
    let e = r
        .find_zone("_acme-challenge.nowhere.test.")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("could not find the zone of \"_acme-challenge.nowhere.test.\""),
        "{e}"
    );

    let p = provider(&bind);
    let e = p
        .present("nowhere.test.", "_acme-challenge.nowhere.test.", "v")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("\"_acme-challenge.nowhere.test.\""), "{msg}");
    assert!(
        msg.contains("NOTAUTH") && msg.contains("zone \"nowhere.test.\""),
        "{msg}"
    );
    assert!(!msg.contains(bind.key_secret()), "{msg}");
}

#[tokio::test]
async fn present_and_cleanup_keep_other_values() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let p = provider(&bind);
    let r = Resolver::new(&config(&bind)).unwrap();
    let zone = "example.com.";
    let fqdn = challenge_record_name("example.com");
    let (a, b) = (txt_value("token-a.thumb"), txt_value("token-b.thumb"));
    let mut both = vec![a.clone(), b.clone()];
    both.sort();

    p.present(zone, &fqdn, &a).await.unwrap();
    assert_eq!(bind.txt(&fqdn), vec![a.clone()]);
    assert_eq!(
        r.txt_values(bind.addr(), &fqdn).await.unwrap(),
        vec![a.clone()]
    );

    // Idempotent.
    p.present(zone, &fqdn, &a).await.unwrap();
    assert_eq!(bind.txt(&fqdn), vec![a.clone()]);

    // A second value joins the first.
    p.present(zone, &fqdn, &b).await.unwrap();
    assert_eq!(bind.txt(&fqdn), both);

    // Cleanup removes only its value, and succeeds when it is gone.
    p.cleanup(zone, &fqdn, &a).await.unwrap();
    assert_eq!(bind.txt(&fqdn), vec![b.clone()]);
    p.cleanup(zone, &fqdn, &a).await.unwrap();
    p.cleanup(zone, &fqdn, "never-presented").await.unwrap();
    assert_eq!(bind.txt(&fqdn), vec![b.clone()]);
    p.cleanup(zone, &fqdn, &b).await.unwrap();
    assert!(bind.txt(&fqdn).is_empty());
    assert!(r.txt_values(bind.addr(), &fqdn).await.unwrap().is_empty());
}

#[tokio::test]
async fn updates_over_tcp() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let p = rfc2136(&bind, bind.key_secret(), Some(Rfc2136Protocol::Tcp));
    let fqdn = "_acme-challenge.www.example.com.";
    p.present("example.com.", fqdn, "over-tcp").await.unwrap();
    assert_eq!(bind.txt(fqdn), vec!["over-tcp".to_string()]);
    p.cleanup("example.com.", fqdn, "over-tcp").await.unwrap();
    assert!(bind.txt(fqdn).is_empty());
}

#[tokio::test]
async fn wildcard_and_apex_share_one_round_of_queries() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let p = provider(&bind);
    let fqdn = challenge_record_name("*.example.com");
    assert_eq!(fqdn, challenge_record_name("example.com"));
    let (wild, apex) = (txt_value("wildcard.thumb"), txt_value("apex.thumb"));

    // Before anything is presented: pending, saying what the server has.
    let probe = Checker::new(config(&bind)).unwrap();
    match probe.check(&fqdn, &wild).await.unwrap() {
        Propagation::Pending { messages } => {
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert_eq!(
                messages[0],
                format!(
                    "DNS record for \"{fqdn}\" not yet propagated: {} has no TXT record",
                    bind.addr()
                )
            );
        }
        Propagation::Visible => panic!("nothing was presented"),
    }

    p.present("example.com.", &fqdn, &wild).await.unwrap();
    p.present("example.com.", &fqdn, &apex).await.unwrap();

    // The cost of one check on a fresh checker...
    let single = Checker::new(config(&bind)).unwrap();
    assert!(single.check(&fqdn, &wild).await.unwrap().is_visible());
    let one_round = single.queries_sent();
    assert!(
        one_round >= 3,
        "CNAME, zone, NS and TXT lookups: {one_round}"
    );

    // ...is the cost of both challenges' checks made together.
    let shared = Checker::new(config(&bind)).unwrap();
    let (w, a) = tokio::join!(shared.check(&fqdn, &wild), shared.check(&fqdn, &apex));
    assert!(w.unwrap().is_visible());
    assert!(a.unwrap().is_visible());
    assert_eq!(shared.queries_sent(), one_round);

    // Checks soon after reuse the answers, whatever the value.
    let again = shared.clone();
    assert!(again.check(&fqdn, &apex).await.unwrap().is_visible());
    let other = again.check(&fqdn, "not-there").await.unwrap();
    assert_eq!(
        other.message(),
        format!(
            "DNS record for \"{fqdn}\" not yet propagated: {} has 2 value(s), none matches",
            bind.addr()
        )
    );
    assert_eq!(shared.queries_sent(), one_round);

    // wait() returns at once when visible.
    shared.wait(&fqdn, &wild).await.unwrap();
}

#[tokio::test]
async fn answers_are_fresh_after_half_the_poll_period() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let p = provider(&bind);
    let fqdn = "_acme-challenge.fresh.example.com.";
    let cfg = Dns01Config {
        poll_period: Duration::from_millis(200),
        ..config(&bind)
    };
    let checker = Checker::new(cfg).unwrap();
    assert!(!checker.check(fqdn, "v").await.unwrap().is_visible());
    p.present("example.com.", fqdn, "v").await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let before = checker.queries_sent();
    assert!(checker.check(fqdn, "v").await.unwrap().is_visible());
    // Only the TXT query again: the name's resolution is kept.
    assert_eq!(checker.queries_sent() - before, 1);
    // wait() polls until visible.
    let waiter = checker.clone();
    let waiting = tokio::spawn(async move { waiter.wait(fqdn, "late").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.present("example.com.", fqdn, "late").await.unwrap();
    waiting.await.unwrap().unwrap();

    // ...and gives up after the timeout, saying what it saw last.
    let impatient = Checker::new(Dns01Config {
        poll_period: Duration::from_millis(100),
        timeout: Duration::from_millis(350),
        ..config(&bind)
    })
    .unwrap();
    let e = impatient.wait(fqdn, "never").await.unwrap_err();
    assert!(matches!(e, PropagationError::TimedOut { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "DNS record for \"{fqdn}\" still not visible after"
        )),
        "{msg}"
    );
    assert!(msg.contains("has 2 value(s), none matches"), "{msg}");
}

#[tokio::test]
async fn recursive_nameservers_only() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let p = provider(&bind);
    let fqdn = "_acme-challenge.rec.example.com.";
    p.present("example.com.", fqdn, "v").await.unwrap();
    let checker = Checker::new(Dns01Config {
        recursive_nameservers_only: true,
        // Authoritative lookups would go to a port nothing listens on.
        authoritative_port: 9,
        ..config(&bind)
    })
    .unwrap();
    assert!(checker.check(fqdn, "v").await.unwrap().is_visible());
}

#[tokio::test]
async fn cname_follow_presents_and_checks_at_the_target() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[
        ZoneSpec::new("example.com")
            .with_record("_acme-challenge.app IN CNAME _acme-challenge.delegated.example.net.")
            .with_record("*.wild IN CNAME _acme-challenge.delegated.example.net.")
            .with_record("_acme-challenge.two IN CNAME hop.example.com.")
            .with_record("hop IN CNAME _acme-challenge.delegated.example.net.")
            .with_record("loop1 IN CNAME loop2.example.com.")
            .with_record("loop2 IN CNAME loop1.example.com."),
        ZoneSpec::new("example.net"),
    ]);
    let r = Resolver::new(&config(&bind)).unwrap();
    let target = "_acme-challenge.delegated.example.net.";

    let name = challenge_record_name("app.example.com");
    assert_eq!(r.follow_cname(&name).await.unwrap(), target);
    // A wildcard CNAME served by the zone.
    assert_eq!(
        r.follow_cname(&challenge_record_name("x.wild.example.com"))
            .await
            .unwrap(),
        target
    );
    // Chains.
    assert_eq!(
        r.follow_cname("_acme-challenge.two.example.com.")
            .await
            .unwrap(),
        target
    );
    // No CNAME: the name itself.
    assert_eq!(
        r.follow_cname("_acme-challenge.plain.example.com.")
            .await
            .unwrap(),
        "_acme-challenge.plain.example.com."
    );
    // The zone of a name holding a CNAME to another zone is the name's own.
    assert_eq!(r.find_zone(&name).await.unwrap(), "example.com.");
    assert_eq!(
        r.find_zone("_acme-challenge.x.wild.example.com.")
            .await
            .unwrap(),
        "example.com."
    );
    // Loops.
    let e = r.follow_cname("loop1.example.com.").await.unwrap_err();
    assert!(matches!(e, ResolverError::CnameLoop { .. }), "{e}");
    assert!(e.to_string().contains("loop1.example.com."), "{e}");

    // Present at the target's zone; the check follows the CNAME from the original name.
    let checker = Checker::new(config(&bind)).unwrap();
    let value = txt_value("app.thumb");
    let pending = checker.check(&name, &value).await.unwrap();
    assert!(
        pending.message().contains(&format!(
            "DNS record for \"{name}\" (CNAME to \"{target}\")"
        )),
        "{pending:?}"
    );
    let zone = r.find_zone(target).await.unwrap();
    assert_eq!(zone, "example.net.");
    provider(&bind)
        .present(&zone, target, &value)
        .await
        .unwrap();
    assert_eq!(bind.txt(target), vec![value.clone()]);
    let fresh = Checker::new(config(&bind)).unwrap();
    assert!(fresh.check(&name, &value).await.unwrap().is_visible());
}

#[tokio::test]
async fn a_wrong_tsig_secret_names_the_key_not_the_secret() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let wrong = "c29tZS1vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMhISE=";
    assert_ne!(wrong, bind.key_secret());
    let p = rfc2136(&bind, wrong, None);
    let e = p
        .present("example.com.", "_acme-challenge.example.com.", "v")
        .await
        .unwrap_err();
    assert!(!e.is_transient());
    let msg = e.to_string();
    assert!(msg.contains(&format!("\"{}\"", bind.key_name())), "{msg}");
    assert!(msg.contains("secret"), "{msg}");
    assert!(
        !msg.contains(wrong) && !msg.contains(bind.key_secret()),
        "{msg}"
    );
    assert!(bind.txt("_acme-challenge.example.com.").is_empty());

    // The same through TCP.
    let p = rfc2136(&bind, wrong, Some(Rfc2136Protocol::Tcp));
    let e = p
        .add("example.com.", "_acme-challenge.example.com.", "v")
        .await
        .unwrap_err();
    assert!(matches!(e, Rfc2136Error::TsigRejected { .. }), "{e}");
}

#[tokio::test]
async fn unsigned_updates_are_refused_with_a_hint() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let cfg = AcmeIssuerDns01ProviderRfc2136 {
        nameserver: bind.addr().to_string(),
        ..Default::default()
    };
    let p = Rfc2136Provider::new(&cfg, None).unwrap();
    let e = p
        .add("example.com.", "_acme-challenge.example.com.", "v")
        .await
        .unwrap_err();
    assert!(matches!(e, Rfc2136Error::Refused { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("REFUSED") && msg.contains("not signed"),
        "{msg}"
    );
    assert!(msg.contains("\"example.com.\""), "{msg}");
}
