//! Fidelity suite: the behaviours of kube-apiserver that certgate relies on, driven
//! through the real `kube::Client` (and raw HTTP through it for codes and bodies).
//! Written from the API's documentation and the recordings in `tests/recordings`, so
//! that they also pass against a real cluster: `CERTGATE_TEST_KUBECONFIG=<path>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use certgate_sandbox::TestEnv;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::WatchStreamExt;
use serde_json::{Value, json};
use std::time::Duration;

fn widget_crd() -> Value {
    let path = format!(
        "{}/tests/recordings/crd-widget.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .find(|d| d["spec"]["names"]["kind"] == "Widget")
        .unwrap()
}

fn widgets(env: &TestEnv) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("example.certgate.test", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    Api::namespaced_with(env.client.clone(), &env.namespace, &ar)
}

fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.certgate.test/v1", "kind": "Widget",
        "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}

async fn raw(
    env: &TestEnv,
    method: &str,
    path: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .header("Accept", "application/json")
        .body(if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        })
        .unwrap();
    let resp = env
        .client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn create_assigns_identity_and_refuses_duplicates() {
    let env = TestEnv::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let mut cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}, "data": {"k": "v"}}))
            .unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let name = created.metadata.name.clone().unwrap();
    assert!(
        name.starts_with("gen-") && name.len() == 9,
        "generated name {name}"
    );
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.resource_version.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    cm.metadata.generate_name = None;
    cm.metadata.name = Some(name.clone());
    let err = api_error(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, format!("configmaps \"{name}\" already exists"));
    let missing = api_error(cms.get("missing").await.unwrap_err());
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "configmaps \"missing\" not found")
    );
    // A missing namespace: 404 naming the namespace.
    let elsewhere: Api<ConfigMap> = Api::namespaced(env.client.clone(), "no-such-namespace");
    let err = api_error(
        elsewhere
            .create(&PostParams::default(), &cm)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"no-such-namespace\" not found")
    );
    // Dry run stores nothing.
    let mut dry = cm.clone();
    dry.metadata.name = Some("dry".into());
    cms.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &dry,
    )
    .await
    .unwrap();
    assert!(cms.get_opt("dry").await.unwrap().is_none());
    env.cleanup().await;
}

#[tokio::test]
async fn custom_resources_are_validated_pruned_and_versioned() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&[widget_crd()]).await.unwrap();
    let api = widgets(&env);
    let w = api
        .create(
            &PostParams::default(),
            &widget("w1", json!({"owner": "alice", "size": 3, "extra": 1})),
        )
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    assert_eq!(w.data["spec"]["color"], "blue", "defaulted");
    assert!(w.data["spec"].get("extra").is_none(), "pruned");
    let err = api_error(
        api.create(
            &PostParams::default(),
            &widget("w2", json!({"owner": "a", "size": 11})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains(
            "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"
        ),
        "{}",
        err.message
    );
    let err = api_error(
        api.create(
            &PostParams::default(),
            &widget("w3", json!({"owner": "a", "a": "x", "b": "y"})),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        err.message
            .contains("spec: Invalid value: a and b are mutually exclusive"),
        "{}",
        err.message
    );
    // Transition rule.
    api.create(
        &PostParams::default(),
        &widget("w4", json!({"owner": "a", "mode": "A"})),
    )
    .await
    .unwrap();
    let err = api_error(
        api.patch(
            "w4",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "B"}})),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        err.message
            .contains("spec.mode: Invalid value: \"B\": mode is immutable"),
        "{}",
        err.message
    );
    // Stale update → 409; spec change bumps generation.
    let mut stale = api.get("w1").await.unwrap();
    let fresh = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(fresh.metadata.generation, Some(2));
    stale.data["spec"]["size"] = json!(5);
    let err = api_error(
        api.replace("w1", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    env.cleanup().await;
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&[widget_crd()]).await.unwrap();
    let api = widgets(&env);
    let mut w = widget("s1", json!({"owner": "a"}));
    w.data["status"] = json!({"observedGeneration": 9});
    let created = api.create(&PostParams::default(), &w).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status dropped on create"
    );
    let after = api
        .patch_status(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"owner": "b"}, "status": {"observedGeneration": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(after.data["spec"]["owner"], "a", "spec ignored on /status");
    assert_eq!(after.data["status"]["observedGeneration"], 1);
    assert_eq!(
        after.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );
    let main = api
        .patch(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(
        main.data["status"]["observedGeneration"], 1,
        "status ignored on the main resource"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn patches_merge_json_and_server_side_apply() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&[widget_crd()]).await.unwrap();
    let api = widgets(&env);
    api.create(
        &PostParams::default(),
        &widget("p1", json!({"owner": "a", "size": 1, "name": "x"})),
    )
    .await
    .unwrap();
    let merged = api
        .patch(
            "p1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"name": null}})),
        )
        .await
        .unwrap();
    assert!(merged.data["spec"].get("name").is_none(), "null deletes");
    let patched = api
        .patch(
            "p1",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(
                    json!([{"op": "replace", "path": "/spec/size", "value": 2}]),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["size"], 2);
    let failing = api
        .patch(
            "p1",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(json!([{"op": "test", "path": "/spec/size", "value": 9}]))
                    .unwrap(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(failing).code, 422);

    // Server-side apply: two managers, a conflict, force.
    let cfg = |size: i64| json!({"apiVersion": "example.certgate.test/v1", "kind": "Widget", "metadata": {"name": "a1"}, "spec": {"owner": "o", "size": size}});
    api.patch("a1", &PatchParams::apply("mgr-a"), &Patch::Apply(cfg(3)))
        .await
        .unwrap();
    let err = api_error(
        api.patch("a1", &PatchParams::apply("mgr-b"), &Patch::Apply(cfg(4)))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    assert!(
        err.message.contains("conflict with \"mgr-a\""),
        "{}",
        err.message
    );
    let forced = api
        .patch(
            "a1",
            &PatchParams::apply("mgr-b").force(),
            &Patch::Apply(cfg(4)),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["size"], 4);
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.contains(&"mgr-b".to_string()), "{managers:?}");
    // A field a manager stops applying is removed when nobody else owns it.
    let without_size = json!({"apiVersion": "example.certgate.test/v1", "kind": "Widget", "metadata": {"name": "a1"}, "spec": {"owner": "o"}});
    let dropped = api
        .patch(
            "a1",
            &PatchParams::apply("mgr-b").force(),
            &Patch::Apply(without_size),
        )
        .await
        .unwrap();
    assert!(
        dropped.data["spec"].get("size").is_none(),
        "{:?}",
        dropped.data["spec"]
    );
    env.cleanup().await;
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let env = TestEnv::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let held = cms.delete("fin", &DeleteParams::default()).await.unwrap();
    let obj = held
        .left()
        .expect("the object comes back while a finalizer holds it");
    assert!(obj.metadata.deletion_timestamp.is_some());
    let err = api_error(
        cms.patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("no new finalizers can be added if the object is being deleted"),
        "{}",
        err.message
    );
    cms.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        cms.get_opt("fin").await.unwrap().is_none(),
        "gone with its last finalizer"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn watch_streams_changes_and_expires_old_versions() {
    let env = TestEnv::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let list = cms.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "w", "labels": {"a": "1"}}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "y"}})),
    )
    .await
    .unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    // Only this test's ConfigMap: the `kube-root-ca.crt` published into every new
    // namespace (by a real cluster and the sandbox) may arrive after the list.
    let ours = |cm: &ConfigMap| cm.metadata.name.as_deref() == Some("w");
    while seen.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(cm)) if ours(&cm) => seen.push("ADDED"),
            Some(WatchEvent::Modified(cm)) if ours(&cm) => seen.push("MODIFIED"),
            Some(WatchEvent::Deleted(cm)) if ours(&cm) => seen.push("DELETED"),
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(seen, ["ADDED", "MODIFIED", "DELETED"]);
    // A resourceVersion far in the past: an ERROR event with 410 Expired (sandbox keeps
    // its history bounded; a real server compacts it).
    let mut old = cms
        .watch(&WatchParams::default().timeout(5), "1")
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(5), old.try_next())
        .await
        .unwrap()
    {
        Ok(Some(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 410),
        other => panic!("expected a 410 for a too-old resourceVersion, got {other:?}"),
    }
    env.cleanup().await;
}

#[tokio::test]
async fn watcher_from_kube_runtime_sees_objects() {
    let env = TestEnv::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "before"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut names = kube::runtime::watcher(cms.clone(), kube::runtime::watcher::Config::default())
        .applied_objects()
        .map_ok(|c: ConfigMap| c.metadata.name.unwrap_or_default())
        .boxed();
    let after: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "after"}})).unwrap();
    let mut got = Vec::new();
    let mut created = false;
    while got.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(5), names.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // Only this test's ConfigMaps: a real cluster publishes `kube-root-ca.crt`
        // into every namespace.
        if next != "kube-root-ca.crt" {
            got.push(next);
        }
        if !created {
            cms.create(&PostParams::default(), &after).await.unwrap();
            created = true;
        }
    }
    assert_eq!(got, ["before", "after"]);
    env.cleanup().await;
}

#[tokio::test]
async fn lists_select_by_labels_and_fields_and_page() {
    let env = TestEnv::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    for (name, tier) in [
        ("l1", "front"),
        ("l2", "back"),
        ("l3", "front"),
        ("l4", "db"),
    ] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"tier": tier}}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    // Only this test's ConfigMaps (`l1`…`l4`): a real cluster publishes
    // `kube-root-ca.crt` into every namespace, which `tier!=front` also selects.
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .filter(|n| n.starts_with('l'))
            .collect()
    };
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier=front"))
                .await
                .unwrap()
        ),
        ["l1", "l3"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier in (back,db)"))
                .await
                .unwrap()
        ),
        ["l2", "l4"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier!=front"))
                .await
                .unwrap()
        ),
        ["l2", "l4"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=l3"))
                .await
                .unwrap()
        ),
        ["l3"]
    );
    let bad = api_error(
        cms.list(&ListParams::default().fields("data.k=v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(bad.code, 400);
    let page = cms
        .list(&ListParams::default().labels("tier").limit(3))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    let token = page.metadata.continue_.clone().expect("a continue token");
    let rest = cms
        .list(
            &ListParams::default()
                .labels("tier")
                .limit(3)
                .continue_token(&token),
        )
        .await
        .unwrap();
    assert_eq!(names(rest), ["l4"]);
    env.cleanup().await;
}

#[tokio::test]
async fn tls_secrets_need_their_keys() {
    let env = TestEnv::start().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}})).unwrap();
    let err = api_error(
        secrets
            .create(&PostParams::default(), &s)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("data[tls.key]: Required value"),
        "{}",
        err.message
    );
    env.cleanup().await;
}

#[tokio::test]
async fn owner_references_and_namespaces_cascade() {
    let env = TestEnv::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let owner = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap(),
        )
        .await
        .unwrap();
    let dep: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dep", "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid.clone().unwrap()
    }]}}))
    .unwrap();
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if cms.get_opt("dep").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the dependent is garbage collected");

    // Deleting a namespace removes what it holds, then the namespace.
    let ns = env.namespace.clone();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "left"}})).unwrap(),
    )
    .await
    .unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    let refused = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
        )
        .await;
    if let Err(e) = refused {
        assert_eq!(api_error(e).code, 403);
    }
    let mut removed = false;
    for _ in 0..400 {
        if namespaces.get_opt(&ns).await.unwrap().is_none() {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(removed, "the namespace goes once it is empty");
}

#[tokio::test]
async fn errors_are_status_objects_and_unknown_paths_plain_404() {
    let env = TestEnv::start().await.unwrap();
    let (code, body) = raw(
        &env,
        "GET",
        &format!("/api/v1/namespaces/{}/configmaps/nope", env.namespace),
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "NotFound");
    assert_eq!(
        body["details"],
        json!({"name": "nope", "kind": "configmaps"})
    );
    let (code, body) = raw(
        &env,
        "GET",
        "/apis/no.such.group/v1/things",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(
        (code, body),
        (404, Value::Null),
        "unknown paths answer text, not a Status"
    );
    let (code, body) = raw(
        &env,
        "PATCH",
        &format!("/api/v1/namespaces/{}/configmaps/x", env.namespace),
        "application/json",
        json!({}),
    )
    .await;
    assert_eq!(code, 415, "{body}");
    env.cleanup().await;
}

async fn wait_gone(cms: &Api<ConfigMap>, name: &str) -> bool {
    for _ in 0..100 {
        if cms.get_opt(name).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn foreground_orphan_and_ownerless_dependents() {
    let env = TestEnv::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let mk = |name: &str, owner: Option<(&str, String)>| -> ConfigMap {
        let mut v = json!({"metadata": {"name": name}});
        if let Some((owner_name, uid)) = owner {
            v["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": owner_name, "uid": uid}]);
        }
        serde_json::from_value(v).unwrap()
    };
    // An owner that does not exist: the dependent is collected.
    cms.create(
        &PostParams::default(),
        &mk(
            "stray",
            Some(("ghost", "00000000-0000-0000-0000-000000000000".into())),
        ),
    )
    .await
    .unwrap();
    assert!(
        wait_gone(&cms, "stray").await,
        "a dependent of a missing owner is collected"
    );

    // Foreground: the owner waits (foregroundDeletion) until its dependent is gone.
    let owner = cms
        .create(&PostParams::default(), &mk("fg-owner", None))
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &mk(
            "fg-dep",
            Some(("fg-owner", owner.metadata.uid.clone().unwrap())),
        ),
    )
    .await
    .unwrap();
    let held = cms
        .delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let held = held
        .left()
        .expect("the owner is kept while its dependents go");
    assert_eq!(
        held.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()])
    );
    assert!(wait_gone(&cms, "fg-dep").await);
    assert!(wait_gone(&cms, "fg-owner").await);

    // Orphan: the dependent stays, without its ownerReference.
    let owner = cms
        .create(&PostParams::default(), &mk("or-owner", None))
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &mk(
            "or-dep",
            Some(("or-owner", owner.metadata.uid.clone().unwrap())),
        ),
    )
    .await
    .unwrap();
    cms.delete("or-owner", &DeleteParams::orphan())
        .await
        .unwrap();
    assert!(wait_gone(&cms, "or-owner").await);
    let dep = cms.get("or-dep").await.unwrap();
    assert!(
        dep.metadata.owner_references.unwrap_or_default().is_empty(),
        "the orphan loses its ownerReference"
    );
    env.cleanup().await;
}
