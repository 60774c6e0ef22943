//! `tblink sim`: run a discovery scenario in the deterministic simulator.

use std::process::ExitCode;
use std::str::FromStr;

use serde_json::{Value, json};
use tblink_proto::{Duration, Host};
use tblink_sim::{Faults, NodeId, Sim, scenario};

/// Long help of `tblink sim`, with the JSON schema.
pub const LONG_ABOUT: &str = "\
Run XDomain discovery between simulated hosts and print what each host \
enumerated: its XDomain devices (named like Linux, e.g. 0-1, 0-301), their \
services (0-1.0 …) with modalias, and the simulated time from plug to \
enumerated. Exits 0 when every host enumerated every neighbour exactly as \
the neighbour publishes itself, 1 when discovery did not converge within \
10 simulated minutes, 2 on bad arguments.

Topologies:
  pair      two hosts, one cable (needs --hosts 2)
  chain:K   two hosts with K device routers (1..=6) between them (needs --hosts 2)
  ring      N hosts in a ring, each cabled to both neighbours (--hosts >= 2)

Every host publishes a `network` service (prtcid 1, prtcvers 1, prtcrevs 1).
--loss and --corrupt apply to every cable, both directions.

JSON output (--json), one object:
  {
    \"converged\": bool,
    \"error\": string | null,          // why it did not converge
    \"seed\": u64, \"topology\": string, \"loss\": f64, \"corrupt\": f64,
    \"sim_time_ns\": u64,              // simulated time at the end of the run
    \"fabric\": { \"sent\", \"delivered\", \"lost\", \"corrupted\", \"duplicated\", \"bad_route\": u64 },
    \"hosts\": [ {
        \"name\": string, \"uuid\": string, \"generation\": u32,
        \"crc_errors\": u64,
        \"xdomains\": [ {
            \"device\": string,            // e.g. \"0-301\"
            \"route\": string,             // hex, e.g. \"301\"
            \"uuid\": string, \"vendor\": u32, \"vendor_name\": string | null,
            \"device_id\": u32, \"device_name\": string | null, \"maxhopid\": u32,
            \"generation\": u32,
            \"enumerated_ns\": u64 | null,  // simulated time from plug to enumerated
            \"services\": [ { \"device\": string, \"key\": string, \"modalias\": string,
                            \"prtcid\": u32, \"prtcvers\": u32, \"prtcrevs\": u32,
                            \"prtcstns\": string } ]
        } ]
    } ]
  }";

/// Topology of `tblink sim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Two hosts, one cable.
    Pair,
    /// Two hosts with K device routers between them.
    Chain(usize),
    /// Hosts in a ring.
    Ring,
}

impl FromStr for Topology {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pair" => Ok(Topology::Pair),
            "ring" => Ok(Topology::Ring),
            _ => {
                let k = s.strip_prefix("chain:").ok_or_else(|| {
                    format!("unknown topology `{s}` (expected pair, chain:K or ring)")
                })?;
                let k: usize = k
                    .parse()
                    .map_err(|_| format!("chain:K needs a number of routers, got `{k}`"))?;
                if !(1..=6).contains(&k) {
                    return Err(format!(
                        "chain:{k}: Linux allows 1 to 6 device routers between two hosts (spec 04 §6)"
                    ));
                }
                Ok(Topology::Chain(k))
            }
        }
    }
}

impl std::fmt::Display for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Topology::Pair => f.write_str("pair"),
            Topology::Chain(k) => write!(f, "chain:{k}"),
            Topology::Ring => f.write_str("ring"),
        }
    }
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not a probability in [0, 1)"))
    }
}

/// Arguments of `tblink sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Number of hosts.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=64))]
    pub hosts: u16,
    /// pair, chain:K (K device routers between two hosts) or ring.
    #[arg(long, default_value = "pair")]
    pub topology: Topology,
    /// Probability that a frame is lost on each cable.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub loss: f64,
    /// Probability that a frame is corrupted on each cable.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub corrupt: f64,
    /// Seed of the simulation (faults and initial generations).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON (schema in --help).
    #[arg(long)]
    pub json: bool,
}

/// Why the arguments cannot describe a scenario (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

fn build(args: &SimArgs) -> Result<(Sim, Vec<NodeId>), UsageError> {
    let n = usize::from(args.hosts);
    let mut sim = Sim::new(args.seed);
    let topo = match args.topology {
        Topology::Pair | Topology::Chain(_) if n != 2 => {
            return Err(UsageError(format!(
                "--topology {} connects exactly 2 hosts, but --hosts is {n}; use --topology ring for more",
                args.topology
            )));
        }
        Topology::Pair => scenario::pair(&mut sim, args.seed),
        Topology::Chain(k) => scenario::chain(&mut sim, args.seed, k),
        Topology::Ring => scenario::ring(&mut sim, args.seed, n),
    };
    sim.set_all_faults(Faults {
        drop: args.loss,
        corrupt: args.corrupt,
        ..Faults::NONE
    });
    Ok((sim, topo.hosts))
}

fn host_json(sim: &Sim, h: NodeId) -> Value {
    let host: &Host = sim.host(h);
    let xds: Vec<Value> = host
        .xdomains()
        .map(|xd| {
            let services: Vec<Value> = xd
                .services
                .iter()
                .map(|s| {
                    json!({
                        "device": s.name, "key": s.key.escaped(), "modalias": s.modalias(),
                        "prtcid": s.identity.prtcid, "prtcvers": s.identity.prtcvers,
                        "prtcrevs": s.identity.prtcrevs, "prtcstns": s.prtcstns_string(),
                    })
                })
                .collect();
            json!({
                "device": xd.name, "route": xd.route.to_string(), "uuid": xd.uuid.to_string(),
                "vendor": xd.vendor, "vendor_name": xd.vendor_name, "device_id": xd.device,
                "device_name": xd.device_name, "maxhopid": xd.maxhopid, "generation": xd.generation,
                "enumerated_ns": sim.time_to_enumerate(h, xd.route).map(|d| d.as_nanos() as u64),
                "services": services,
            })
        })
        .collect();
    json!({
        "name": host.config().host_name, "uuid": host.uuid().to_string(),
        "generation": host.generation(), "crc_errors": host.stats().crc_errors,
        "xdomains": xds,
    })
}

/// Run `tblink sim`.
pub fn run(args: SimArgs) -> Result<ExitCode, UsageError> {
    let (mut sim, hosts) = build(&args)?;
    let converged = sim.run_until(|s| s.converged(), Duration::from_secs(600));
    let error = sim.check_truth().err();
    if args.json {
        let f = sim.stats;
        let out = json!({
            "converged": converged, "error": error, "seed": args.seed,
            "topology": args.topology.to_string(), "loss": args.loss, "corrupt": args.corrupt,
            "sim_time_ns": sim.now().as_nanos(),
            "fabric": { "sent": f.sent, "delivered": f.delivered, "lost": f.lost,
                        "corrupted": f.corrupted, "duplicated": f.duplicated, "bad_route": f.bad_route },
            "hosts": hosts.iter().map(|&h| host_json(&sim, h)).collect::<Vec<_>>(),
        });
        println!("{out:#}");
    } else {
        println!(
            "tblink sim: {} hosts, topology {}, loss {}, corrupt {}, seed {}",
            hosts.len(),
            args.topology,
            args.loss,
            args.corrupt,
            args.seed
        );
        for &h in &hosts {
            let host = sim.host(h);
            println!("{} ({})", host.config().host_name, host.uuid());
            for xd in host.xdomains() {
                let took = sim
                    .time_to_enumerate(h, xd.route)
                    .map_or_else(|| "-".to_string(), |d| format!("{d:?}"));
                println!(
                    "  {:<16} {} {} generation {:#x}, enumerated in {took}",
                    xd.name,
                    xd.device_name.as_deref().unwrap_or(""),
                    xd.uuid,
                    xd.generation
                );
                for s in &xd.services {
                    println!("    {:<18} {:<8} {}", s.name, s.key, s.modalias());
                }
            }
        }
        println!(
            "simulated time {:?}",
            Duration::from_nanos(sim.now().as_nanos())
        );
    }
    if converged {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "tblink sim: discovery did not converge within 10 simulated minutes: {}",
            error.unwrap_or_default()
        );
        Ok(ExitCode::FAILURE)
    }
}
