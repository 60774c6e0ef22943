//! `tblink sim` end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn tblink(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tblink"))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = tblink(&a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn lossy_pair_converges() {
    let v = json(&[
        "sim",
        "--hosts",
        "2",
        "--loss",
        "0.3",
        "--corrupt",
        "0.05",
        "--seed",
        "7",
    ]);
    assert_eq!(v["converged"], true);
    assert!(v["fabric"]["lost"].as_u64().unwrap() > 0);
    for h in v["hosts"].as_array().unwrap() {
        let xd = &h["xdomains"][0];
        assert_eq!(xd["device"], "0-1");
        assert_eq!(
            xd["services"][0]["modalias"],
            "tbsvc:knetworkp00000001v00000001r00000001"
        );
        assert!(xd["enumerated_ns"].as_u64().is_some());
    }
}

#[test]
fn ring_of_16_converges() {
    let v = json(&["sim", "--hosts", "16", "--topology", "ring"]);
    assert_eq!(v["converged"], true);
    let hosts = v["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 16);
    assert!(
        hosts
            .iter()
            .all(|h| h["xdomains"].as_array().unwrap().len() == 2)
    );
}

#[test]
fn text_output_names_devices() {
    let out = tblink(&["sim", "--topology", "chain:2"]);
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("0-30301"), "{s}");
    assert!(s.contains("0-30301.0"), "{s}");
    assert!(s.contains("enumerated in"), "{s}");
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["sim", "--hosts", "3"][..],
        &["sim", "--hosts", "3", "--topology", "chain:2"],
        &["sim", "--topology", "chain:0"],
        &["sim", "--topology", "star"],
        &["sim", "--loss", "1.5"],
        &["sim", "--hosts", "1"],
    ] {
        let out = tblink(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error:"), "{args:?}: {err}");
    }
    let err = String::from_utf8(tblink(&["sim", "--hosts", "3"]).stderr).unwrap();
    assert!(err.contains("exactly 2 hosts"), "{err}");
}

#[test]
fn help_documents_json_schema() {
    let out = tblink(&["sim", "--help"]);
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("\"enumerated_ns\""), "{s}");
    assert!(s.contains("chain:K"));
}
