//! `tblink sysfs` run as a process against the fixture trees in
//! `tests/fixtures/sysfs/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sysfs")
        .join(name)
}

fn run(root: &PathBuf, json: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tblink"));
    cmd.arg("sysfs").arg("--root").arg(root);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

fn text(name: &str) -> String {
    let o = run(&fixture(name), false);
    assert!(o.status.success(), "{name}: {o:?}");
    assert!(o.stderr.is_empty(), "{name}: {o:?}");
    String::from_utf8(o.stdout).unwrap()
}

fn json(name: &str) -> Value {
    let o = run(&fixture(name), true);
    assert!(o.status.success(), "{name}: {o:?}");
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn no_thunderbolt() {
    for root in [fixture("empty"), fixture("does-not-exist")] {
        let o = run(&root, false);
        assert!(o.status.success());
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.starts_with("no Thunderbolt domains found"), "{out}");
        let o = run(&root, true);
        assert!(o.status.success());
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["domains"], Value::Array(vec![]));
    }
}

#[test]
fn single_link_text() {
    let expected = "\
Domain 0: security user, iommu_dma_protection 1, deauthorization 1
  Host 0-0: 8087:9a1b Intel Tiger Lake
    unique_id    44332211-8877-6655-ccbb-aa9900ffeedd
    generation   4
    nvm_version  54.0
  XDomain 0-1: Intel Corp. linuxbox
    route        0x1 (depth 1)
    unique_id    3d2b1a8c-5f4e-0000-ffff-ffffffffffff
    vendor       0x8086
    vendor_name  Intel Corp.
    device       0x1
    device_name  linuxbox
    maxhopid     19
    rx           20.0 Gb/s x 2
    tx           20.0 Gb/s x 2
    Service 0-1.0: network
      prtcid 1, prtcvers 1, prtcrevs 1, prtcstns 0x00000007
      modalias   tbsvc:knetworkp00000001v00000001r00000001
      driver     thunderbolt-net
      net        thunderbolt0 (address 02:5f:e1:2c:47:0a, operstate up, mtu 65522)
";
    assert_eq!(text("single/sys/bus/thunderbolt"), expected);
}

#[test]
fn single_link_json() {
    let j = json("single/sys/bus/thunderbolt");
    let d = &j["domains"][0];
    assert_eq!(d["device"], "domain0");
    assert_eq!(d["security"], "user");
    assert_eq!(d["iommu_dma_protection"], true);
    assert_eq!(d["host"]["device"], "0-0");
    assert_eq!(
        d["host"]["unique_id"],
        "44332211-8877-6655-ccbb-aa9900ffeedd"
    );
    assert_eq!(d["routers"], Value::Array(vec![]));
    let x = &d["xdomains"][0];
    assert_eq!(x["device"], "0-1");
    assert_eq!(x["route"], "1");
    assert_eq!(x["unique_id"], "3d2b1a8c-5f4e-0000-ffff-ffffffffffff");
    assert_eq!(x["vendor"], 0x8086);
    assert_eq!(x["vendor_name"], "Intel Corp.");
    assert_eq!(x["device_id"], 1);
    assert_eq!(x["device_name"], "linuxbox");
    assert_eq!(x["maxhopid"], 19);
    assert_eq!(x["rx_speed_gbps"], 20);
    assert_eq!(x["tx_lanes"], 2);
    let s = &x["services"][0];
    assert_eq!(s["device"], "0-1.0");
    assert_eq!(s["id"], 0);
    assert_eq!(s["key"], "network");
    assert_eq!(s["prtcstns"], 7);
    assert_eq!(s["modalias"], "tbsvc:knetworkp00000001v00000001r00000001");
    assert_eq!(s["driver"], "thunderbolt-net");
    assert_eq!(s["net"][0]["name"], "thunderbolt0");
    assert_eq!(s["net"][0]["mtu"], 65522);
    assert_eq!(x["services"].as_array().unwrap().len(), 1);
}

#[test]
fn daisy_chain() {
    let t = text("chain");
    assert!(
        t.contains(
            "  Router 0-1: 8086:0002 Intel Thunderbolt 4 Dock\n    route        0x1 (depth 1)\n"
        ),
        "{t}"
    );
    assert!(t.contains("  XDomain 0-301: Intel Corp. farside\n    route        0x301 (depth 2)\n"));
    assert!(t.contains("    rx           10.0 Gb/s x 1\n"));
    assert!(t.contains("    Service 0-301.0: network\n"));
    assert!(t.contains("      driver     thunderbolt-net\n"));
    assert!(t.contains(
        "      net        thunderbolt0 (address 02:3a:91:c4:0e:55, operstate down, mtu 65522)\n"
    ));
    // The router comes before the XDomain behind it.
    assert!(t.find("Router 0-1").unwrap() < t.find("XDomain 0-301").unwrap());

    let j = json("chain");
    let d = &j["domains"][0];
    assert_eq!(d["routers"][0]["device"], "0-1");
    assert_eq!(d["routers"][0]["authorized"], "1");
    let x = &d["xdomains"][0];
    assert_eq!(x["device"], "0-301");
    assert_eq!(x["route"], "301");
    assert_eq!(x["depth"], 2);
    assert_eq!(x["services"][0]["device"], "0-301.0");
    assert_eq!(x["services"][0]["driver"], "thunderbolt-net");
}

#[test]
fn two_peers() {
    let t = text("two-peers");
    let a = t.find("  XDomain 0-1: Intel Corp. alpha").unwrap();
    let b = t.find("  XDomain 0-3: Apple Inc. Macintosh").unwrap();
    assert!(a < b);
    assert!(t.contains(
        "    Service 0-1.1: dma_test\n      prtcid 1, prtcvers 1, prtcrevs 0, prtcstns 0x00000000\n      modalias   tbsvc:kdma_testp00000001v00000001r00000000\n      driver     none\n"
    ));
    assert!(t.contains("      net        thunderbolt1 (address 02:7c:55:e0:12:9b"));
    assert!(t.contains("Domain 1: security user"));

    let j = json("two-peers");
    let doms = j["domains"].as_array().unwrap();
    assert_eq!(doms.len(), 2);
    let xs = doms[0]["xdomains"].as_array().unwrap();
    assert_eq!(xs.len(), 2);
    assert_eq!(xs[0]["device"], "0-1");
    assert_eq!(xs[0]["services"].as_array().unwrap().len(), 2);
    assert_eq!(xs[0]["services"][1]["key"], "dma_test");
    assert_eq!(xs[0]["services"][1]["driver"], Value::Null);
    assert_eq!(xs[0]["services"][1]["net"], Value::Array(vec![]));
    assert_eq!(xs[1]["device"], "0-3");
    assert_eq!(xs[1]["vendor"], 0xa27);
    assert_eq!(xs[1]["services"][0]["net"][0]["name"], "thunderbolt1");
    assert_eq!(doms[1]["device"], "domain1");
    assert_eq!(doms[1]["xdomains"], Value::Array(vec![]));
}

#[test]
fn missing_and_unreadable_attributes() {
    let t = text("degraded");
    assert!(t.contains(
        "Domain 0: security user, iommu_dma_protection unknown, deauthorization unknown\n"
    ));
    assert!(t.contains("  Host 0-0: unknown\n"));
    assert!(t.contains(
        "  XDomain 0-1: unknown\n    route        0x1 (depth 1)\n    unique_id    9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0\n    vendor       0x8086\n    vendor_name  unknown\n    device       unknown\n    device_name  unknown\n    maxhopid     unknown\n    rx           unknown\n    tx           unknown\n"
    ), "{t}");
    assert!(t.contains(
        "    Service 0-1.0: network\n      prtcid 1, prtcvers unknown, prtcrevs unknown, prtcstns unknown\n      modalias   unknown\n      driver     none\n"
    ));
    // The dangling devices/0-1.1 link, the retimer and the stray file are skipped.
    assert!(!t.contains("0-1.1"));
    assert!(!t.contains("0-0:1.1"));
    // A device whose domain has no directory still shows, under that domain.
    assert!(t.contains("Domain 2: security unknown"));
    assert!(t.contains("  XDomain 2-5: unknown\n"));

    let j = json("degraded");
    let x = &j["domains"][0]["xdomains"][0];
    for k in [
        "vendor_name",
        "device_id",
        "device_name",
        "maxhopid",
        "rx_speed_gbps",
        "tx_speed_gbps",
        "rx_lanes",
        "tx_lanes",
    ] {
        assert_eq!(x[k], Value::Null, "{k}");
    }
    assert_eq!(x["vendor"], 0x8086);
    let s = &x["services"][0];
    assert_eq!(s["prtcid"], 1);
    assert_eq!(s["prtcvers"], Value::Null);
    assert_eq!(s["prtcrevs"], Value::Null);
    assert_eq!(s["modalias"], Value::Null);
    assert_eq!(j["domains"][0]["iommu_dma_protection"], Value::Null);
    assert_eq!(j["domains"][0]["host"]["vendor_name"], Value::Null);
}

#[test]
fn help_documents_schema() {
    let o = Command::new(env!("CARGO_BIN_EXE_tblink"))
        .args(["sysfs", "--help"])
        .output()
        .unwrap();
    let h = String::from_utf8(o.stdout).unwrap();
    assert!(h.contains("--root"));
    assert!(h.contains("\"xdomains\""));
    assert!(h.contains("no Thunderbolt domains found"));
}
