//! The lab's command-line face, for `tests/lab/demo.sh` (the tests use `tests/support/lab.rs`
//! directly): `lab up NAME PROVIDER SCENARIO BINARY` builds a lab and leaves it running,
//! `lab ping NAME ADDRESS` pings from its peer host, `lab down NAME` removes it. Run as root.
#![allow(dead_code)]

#[path = "../support/lab.rs"]
mod lab;
#[path = "../support/netns.rs"]
mod netns;

use cloud_network::metadata::ProviderKind;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str =
    "usage: lab up NAME PROVIDER SCENARIO BINARY | lab ping NAME ADDRESS | lab down NAME";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["up", name, provider, scenario, binary] => {
            let Ok(provider) = provider.parse::<ProviderKind>() else {
                eprintln!("lab: unknown provider '{provider}'");
                return ExitCode::from(2);
            };
            let built = lab::Lab::up(name, provider, Path::new(scenario), Path::new(binary));
            println!(
                "lab {name}: VM namespace {}, peer {} in {}",
                built.vm.name(),
                built.peer_ip,
                built.peer.name()
            );
            std::mem::forget(built);
            ExitCode::SUCCESS
        }
        ["ping", name, address] => {
            let Ok(address) = address.parse::<Ipv4Addr>() else {
                eprintln!("lab: not an IPv4 address: '{address}'");
                return ExitCode::from(2);
            };
            let answered = lab::peer_ping(name, address, 3);
            println!("{answered} of 3 echo requests to {address} answered");
            if answered == 3 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        ["down", name] => {
            lab::teardown(name);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
