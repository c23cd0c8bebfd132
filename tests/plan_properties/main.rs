//! Property tests of the planner (no root needed): random metadata, random pre-existing kernel
//! state and random ownership records, applied to a faithful model of the kernel. A small seeded
//! xorshift generator drives everything; a failure prints the case's seed, and
//! `PLAN_PROPERTIES_SEED=<seed> PLAN_PROPERTIES_CASES=1` replays exactly that case.

mod generate;
mod model;

use cloud_network::kernel::{Address, Change, KernelState, Route, Rule, TABLE_LOCAL, TABLE_MAIN};
use cloud_network::metadata::Instance;
use cloud_network::plan::index::KernelIndex;
use cloud_network::plan::{desired, diff, Desired, Owned, PlanSettings, PlannedChange};
use generate::{mutate, random_instance, random_kernel, random_settings, Rng};
use model::{Model, RTPROT_KERNEL};
use std::collections::BTreeSet;
use std::net::IpAddr;

const DEFAULT_SEED: u64 = 0x5eed_c10d_0001;
const DEFAULT_CASES: u64 = 500;

/// Runs `check` on `PLAN_PROPERTIES_CASES` seeds from `PLAN_PROPERTIES_SEED` on.
fn for_cases(property: &str, check: impl Fn(u64) -> Result<(), String>) {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|v| v.parse().expect("a number"))
            .unwrap_or(default)
    };
    let base = env("PLAN_PROPERTIES_SEED", DEFAULT_SEED);
    let cases = env("PLAN_PROPERTIES_CASES", DEFAULT_CASES);
    for case in 0..cases {
        let seed = base.wrapping_add(case);
        if let Err(failure) = check(seed) {
            panic!(
                "property {property:?} fails for seed {seed}; replay with \
                 PLAN_PROPERTIES_SEED={seed} PLAN_PROPERTIES_CASES=1\n{failure}"
            );
        }
    }
}

// Rounds and scenarios.

/// One reconcile round as the daemon runs it, every change applied to the model and recorded;
/// any refused change is an error naming it.
fn reconcile(
    instance: &Instance,
    model: &mut Model,
    owned: &mut Owned,
    settings: &PlanSettings,
) -> Result<Vec<PlannedChange>, String> {
    let changes = plan(instance, model, owned, settings);
    for planned in &changes {
        model
            .apply(&planned.change)
            .map_err(|e| format!("the kernel refused {:?}: {e}", planned.change))?;
        owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change);
    }
    Ok(changes)
}

/// The changes of a round without applying them (and with the record pruned as the daemon does).
fn plan(
    instance: &Instance,
    model: &Model,
    owned: &mut Owned,
    settings: &PlanSettings,
) -> Vec<PlannedChange> {
    let want = desired(instance, &model.kernel.links, settings);
    let kernel = KernelIndex::new(&model.kernel);
    *owned = owned.prune(&kernel).release(&want.released);
    diff(&want, &kernel, owned).changes
}

/// A random subset of a record: what survives of a lost or older state file.
fn subset(rng: &mut Rng, owned: &Owned) -> Owned {
    let mut kept = owned.clone();
    for nic in kept.nics.values_mut() {
        nic.addresses.retain(|_| rng.chance(70));
        nic.routes.retain(|_| rng.chance(70));
        nic.rules.retain(|_| rng.chance(70));
    }
    kept.global_rules.retain(|_| rng.chance(70));
    kept
}

/// A first round on random metadata and kernel, then the next metadata version: the state a
/// property looks at.
struct Scenario {
    settings: PlanSettings,
    model: Model,
    /// The kernel before we touched it.
    foreign: KernelState,
    owned: Owned,
    /// Everything we ever added.
    ever_added: BTreeSet<String>,
    next: Instance,
}

fn scenario(seed: u64, full_record: bool) -> Result<Scenario, String> {
    let mut rng = Rng::new(seed);
    let (first, mut pools) = random_instance(&mut rng);
    let settings = random_settings(&mut rng);
    let mut model = random_kernel(&mut rng, &first, &settings);
    let foreign = model.kernel.clone();
    let mut owned = Owned::default();
    let changes = reconcile(&first, &mut model, &mut owned, &settings)
        .map_err(|e| format!("first round: {e}\nmetadata: {first:#?}"))?;
    let ever_added = changes.iter().map(|c| added_key(&c.change)).collect();
    if !full_record {
        owned = subset(&mut rng, &owned);
    }
    let next = mutate(&mut rng, &first, &mut pools, !full_record);
    Ok(Scenario {
        settings,
        model,
        foreign,
        owned,
        ever_added,
        next,
    })
}

/// The add that a delete would undo, as comparable text.
fn added_key(change: &Change) -> String {
    let add = match change {
        Change::DelAddress(a) => Change::AddAddress(a.clone()),
        Change::DelRoute(r) => Change::AddRoute(r.clone()),
        Change::DelRule(r) => Change::AddRule(r.clone()),
        other => other.clone(),
    };
    format!("{add:?}")
}

fn is_delete(change: &Change) -> bool {
    matches!(
        change,
        Change::DelAddress(_) | Change::DelRoute(_) | Change::DelRule(_)
    )
}

// The properties.

/// (a) Applying a plan succeeds change by change, and planning again changes nothing.
#[test]
fn applied_plan_then_replan_is_empty() {
    for_cases("apply then re-plan is empty", |seed| {
        let mut s = scenario(seed, false)?;
        let mut owned = s.owned.clone();
        reconcile(&s.next, &mut s.model, &mut owned, &s.settings)?;
        let again = plan(&s.next, &s.model, &mut owned, &s.settings);
        if again.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "second plan: {again:#?}\nmetadata: {:#?}\nkernel: {:#?}",
                s.next, s.model.kernel
            ))
        }
    });
}

/// (b) Every delete in a plan targets an object in the ownership record handed to it.
#[test]
fn deletes_only_touch_owned_objects() {
    for_cases("deletes only owned", |seed| {
        let s = scenario(seed, false)?;
        let mut owned = s.owned.clone();
        let changes = plan(&s.next, &s.model, &mut owned, &s.settings);
        for c in changes.iter().filter(|c| is_delete(&c.change)) {
            let recorded = match &c.change {
                Change::DelAddress(a) => owned.nics.values().any(|n| {
                    n.addresses
                        .iter()
                        .any(|o| o.ifindex == a.ifindex && o.addr == a.addr)
                }),
                Change::DelRoute(r) => owned.nics.values().any(|n| n.routes.contains(r)),
                Change::DelRule(r) => {
                    owned.global_rules.contains(r)
                        || owned.nics.values().any(|n| n.rules.contains(r))
                }
                _ => true,
            };
            if !recorded {
                return Err(format!("{c:?} is not in the record {owned:#?}"));
            }
        }
        Ok(())
    });
}

/// (c) No delete targets the DHCP primary address, a main-table route, or a rule we did not
/// add.
#[test]
fn never_deletes_dhcp_primary_main_routes_or_foreign_rules() {
    for_cases("never deletes what is not ours", |seed| {
        let s = scenario(seed, false)?;
        let dhcp: Vec<&Address> = s
            .foreign
            .addresses
            .iter()
            .filter(|a| a.valid_lft != u32::MAX)
            .collect();
        let mut owned = s.owned.clone();
        for c in plan(&s.next, &s.model, &mut owned, &s.settings) {
            let bad = match &c.change {
                Change::DelAddress(a) => dhcp
                    .iter()
                    .any(|d| d.ifindex == a.ifindex && d.addr.addr() == a.addr.addr()),
                Change::DelRoute(r) => r.table == TABLE_MAIN,
                Change::DelRule(_) => !s.ever_added.contains(&added_key(&c.change)),
                _ => false,
            };
            if bad {
                return Err(format!("deletes {:?}", c.change));
            }
        }
        Ok(())
    });
}

/// (d) After two metadata versions, the kernel holds exactly what the second one wants on the
/// matched NICs (less conflicts), our local routes for it, and every foreign object untouched.
#[test]
fn two_versions_leave_exactly_the_desired_state_and_foreign_objects() {
    for_cases("two versions converge", |seed| {
        let mut s = scenario(seed, true)?;
        let mut owned = s.owned.clone();
        let changes = reconcile(&s.next, &mut s.model, &mut owned, &s.settings)?;
        let deleted: Vec<IpAddr> = changes
            .iter()
            .filter_map(|c| match &c.change {
                Change::DelAddress(a) => Some(a.addr.addr()),
                _ => None,
            })
            .collect();
        let kernel = &s.model.kernel;
        let want = desired(&s.next, &kernel.links, &s.settings);
        let index = &KernelIndex::new(kernel);
        let conflicts = diff(&want, index, &owned.prune(index)).conflicts;
        check_exact(&s.foreign, kernel, &want, &conflicts, &deleted)
    });
}

fn check_exact(
    foreign: &KernelState,
    kernel: &KernelState,
    want: &Desired,
    conflicts: &[Route],
    deleted: &[IpAddr],
) -> Result<(), String> {
    check_foreign_kept(foreign, kernel, deleted)?;
    check_addresses(foreign, kernel, want)?;
    check_routes(foreign, kernel, want, conflicts)?;
    check_rules(foreign, kernel, want)?;
    check_links(kernel, want)
}

/// Every foreign object is still there (but the routes the kernel itself flushes or strips
/// when an address goes).
fn check_foreign_kept(
    foreign: &KernelState,
    kernel: &KernelState,
    deleted: &[IpAddr],
) -> Result<(), String> {
    for a in &foreign.addresses {
        if !kernel.addresses.contains(a) {
            return Err(format!("foreign address {a:?} is gone"));
        }
    }
    // Deleting an address flushes the IPv4 routes using it as source and strips IPv6 ones.
    for r in &foreign.routes {
        let stripped = Route {
            src: None,
            ..r.clone()
        };
        let kernel_did_it = match r.src {
            Some(src @ IpAddr::V4(_)) => deleted.contains(&src),
            Some(src @ IpAddr::V6(_)) => {
                deleted.contains(&src) && kernel.routes.contains(&stripped)
            }
            None => false,
        };
        if !kernel.routes.contains(r) && !kernel_did_it {
            return Err(format!("foreign route {r:?} is gone"));
        }
    }
    for r in &foreign.rules {
        if !kernel.rules.contains(r) {
            return Err(format!("foreign rule {r:?} is gone"));
        }
    }
    Ok(())
}

/// Every wanted address is there, and every other one is foreign or held.
fn check_addresses(
    foreign: &KernelState,
    kernel: &KernelState,
    want: &Desired,
) -> Result<(), String> {
    let wanted_ips: BTreeSet<(u32, IpAddr)> = want
        .nics
        .iter()
        .flat_map(|n| &n.addresses)
        .map(|a| (a.ifindex, a.addr.addr()))
        .collect();
    let have_ips: BTreeSet<(u32, IpAddr)> = kernel
        .addresses
        .iter()
        .map(|a| (a.ifindex, a.addr.addr()))
        .collect();
    if let Some(missing) = wanted_ips.difference(&have_ips).next() {
        return Err(format!("wanted address {missing:?} missing"));
    }
    // An address the sanity gate refuses is held: ours stays where it is while refused.
    let held = |a: &Address| {
        want.nics
            .iter()
            .any(|n| n.ifindex == a.ifindex && n.holds_ip(a.addr.addr()))
    };
    for a in kernel
        .addresses
        .iter()
        .filter(|a| !foreign.addresses.contains(a) && !held(a))
    {
        if !wanted_ips.contains(&(a.ifindex, a.addr.addr())) {
            return Err(format!("address {a:?} is neither foreign nor wanted"));
        }
    }
    Ok(())
}

/// Every wanted route is there or a conflict, and every other one is foreign, the kernel's
/// own local route, or held.
fn check_routes(
    foreign: &KernelState,
    kernel: &KernelState,
    want: &Desired,
    conflicts: &[Route],
) -> Result<(), String> {
    let wanted_routes: Vec<&Route> = want.nics.iter().flat_map(|n| &n.routes).collect();
    for r in &wanted_routes {
        if !kernel.routes.contains(r) && !conflicts.contains(r) {
            return Err(format!("wanted route {r:?} missing"));
        }
    }
    let stripped_foreign = |r: &Route| {
        r.src.is_none()
            && foreign.routes.iter().any(|f| {
                Route {
                    src: None,
                    ..f.clone()
                } == *r
            })
    };
    for r in kernel.routes.iter().filter(|r| !foreign.routes.contains(r)) {
        if stripped_foreign(r) {
            continue;
        }
        let ours_local = r.protocol == RTPROT_KERNEL && r.table == TABLE_LOCAL;
        let held = want.nics.iter().any(|n| n.holds_route(r));
        if !ours_local && !held && !wanted_routes.contains(&r) {
            return Err(format!("route {r:?} is neither foreign nor wanted"));
        }
    }
    Ok(())
}

/// Every wanted rule is there, and every other one is foreign or held.
fn check_rules(foreign: &KernelState, kernel: &KernelState, want: &Desired) -> Result<(), String> {
    let wanted_rules: Vec<&Rule> = want
        .nics
        .iter()
        .flat_map(|n| &n.rules)
        .chain(&want.global_rules)
        .collect();
    for r in &wanted_rules {
        if !kernel.rules.contains(r) {
            return Err(format!("wanted rule {r:?} missing"));
        }
    }
    // What the sanity gate refuses is held: ours stays while it is refused.
    let held_rule = |r: &Rule| {
        want.nics
            .iter()
            .any(|n| r.src.or(r.dst).is_some_and(|net| n.holds_net(&net)))
    };
    for r in kernel.rules.iter().filter(|r| !foreign.rules.contains(r)) {
        if !held_rule(r) && !wanted_rules.contains(&r) {
            return Err(format!("rule {r:?} is neither foreign nor wanted"));
        }
    }
    Ok(())
}

/// Every planned NIC's link is up with the MTU wanted.
fn check_links(kernel: &KernelState, want: &Desired) -> Result<(), String> {
    for plan in &want.nics {
        let link = kernel.links.iter().find(|l| l.index == plan.ifindex);
        if !link.is_some_and(|l| l.up && plan.mtu.is_none_or(|m| m == l.mtu)) {
            return Err(format!("link {} not up with its MTU", plan.name));
        }
    }
    Ok(())
}
