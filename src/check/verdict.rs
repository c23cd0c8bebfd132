//! One line of the check: the kernel's route for replies from a subject, and why it is wrong
//! when it is (in the order an operator would fix it: the link is down, our rule is missing,
//! a foreign rule shadows it, the NIC's table has no default route), then what a user would
//! still hit on a right path (see `paths`). Also the metadata service's line.

use super::paths;
use super::report::{table_name, Line, Path};
use super::subjects::{host_net, probe_source, subject_name, Subject};
use super::{Context, KernelView, Lookup};
use crate::kernel::{OperState, Rule};
use crate::net::{IpNet, ProviderKind};
use crate::netlink::{NetlinkError, RouteLookup, RouteQuery};
use crate::snapshot::LinkStatus;
use std::net::IpAddr;

pub(super) fn check_subject(
    subject: &Subject<'_>,
    ctx: &Context<'_>,
    lookup: &mut Lookup<'_>,
) -> Line {
    let link = subject.link;
    let target = ctx.targets.for_addr(subject.net.addr());
    let answer = reply_lookup(subject, target, lookup);
    let via = answer.as_ref().ok().map(|found| path_of(found, ctx.kernel));
    let reason = match &answer {
        Ok(found) => reason_for(subject, ctx, found, target, lookup),
        Err(e) => Some(
            link_down(link, ctx.kernel)
                .or_else(|| missing_rule(subject, ctx))
                .unwrap_or_else(|| format!("the kernel has no route for replies: {e}")),
        ),
    };
    Line {
        subject: subject_name(&subject.net),
        link: link.name.clone(),
        ok: reason.is_none(),
        via,
        reason,
    }
}

/// The route replies from `subject` to `dst` take (`ip route get <dst> from <source>`); a
/// prefix that is not local (delegated to containers) is asked as forwarded traffic arriving
/// on its link.
pub(super) fn reply_lookup(
    subject: &Subject<'_>,
    dst: IpAddr,
    lookup: &mut Lookup<'_>,
) -> Result<RouteLookup, NetlinkError> {
    let source = probe_source(&subject.net);
    let local = RouteQuery {
        dst,
        src: Some(source),
        iif: None,
    };
    match lookup(&local) {
        Err(e) if e.errno() == Some(libc::ENETUNREACH) && subject.net != host_net(source) => {
            lookup(&RouteQuery {
                iif: Some(subject.link.ifindex),
                ..local
            })
        }
        other => other,
    }
}

/// Every reason the subject fails, joined; None when replies leave by the owning link, our
/// rule is in place and nothing else gets in the way.
fn reason_for(
    subject: &Subject<'_>,
    ctx: &Context<'_>,
    found: &RouteLookup,
    target: IpAddr,
    lookup: &mut Lookup<'_>,
) -> Option<String> {
    let wrong = wrong_path(subject, ctx, found, target);
    let arrival = paths::arrival(subject, ctx, target, lookup);
    let shadowed = match wrong {
        Some(_) => None,
        None => paths::shadowed(subject, ctx, lookup),
    };
    let reasons: Vec<String> = [wrong, arrival, shadowed].into_iter().flatten().collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// Why replies do not leave by the owning link, in the order an operator would fix it;
/// None when they do and our rule is in place.
fn wrong_path(
    subject: &Subject<'_>,
    ctx: &Context<'_>,
    found: &RouteLookup,
    target: IpAddr,
) -> Option<String> {
    let link = subject.link;
    if let Some(down) = link_down(link, ctx.kernel) {
        return Some(down);
    }
    if let Some(missing) = missing_rule(subject, ctx) {
        return Some(missing);
    }
    if found.oif == Some(link.ifindex) {
        return None;
    }
    let source = probe_source(&subject.net);
    if let Some(foreign) = shadowing_rule(subject, ctx.kernel, found, source, target) {
        return Some(format!(
            "rule {} is shadowed by the foreign rule {}",
            subject.rule.as_ref().map_or(0, |r| r.priority),
            rule_text(foreign)
        ));
    }
    if let Some(table) = link.table {
        if !has_default_route(ctx.kernel, table, target) {
            return Some(format!("table {table} has no default route"));
        }
    }
    Some(format!("replies do not leave by {}", link.name))
}

/// `link eth1 is down` when the link is gone, administratively down, or without carrier.
fn link_down(link: &LinkStatus, kernel: &KernelView<'_>) -> Option<String> {
    let Some(found) = kernel.links.iter().find(|l| l.index == link.ifindex) else {
        return Some(format!(
            "link {} (ifindex {}) is gone",
            link.name, link.ifindex
        ));
    };
    let no_carrier = matches!(
        found.oper_state,
        OperState::Down | OperState::LowerLayerDown | OperState::NotPresent
    );
    (!found.up || no_carrier).then(|| format!("link {} is down", link.name))
}

/// `missing rule 3001: from 10.4.0.6/32 lookup 10001` when our rule is not in the kernel.
fn missing_rule(subject: &Subject<'_>, ctx: &Context<'_>) -> Option<String> {
    let rule = subject.rule.as_ref()?;
    let present = ctx.has_rule(rule.priority, rule.from, rule.to, rule.table);
    (!present).then(|| {
        let from = rule.from.map_or("all".to_string(), |f| f.to_string());
        format!(
            "missing rule {}: from {from} lookup {}",
            rule.priority, rule.table
        )
    })
}

/// The rule before ours (lower priority number) that matches the reply and points at the
/// table the kernel's answer came from. A rule whose lookup suppresses routes (our main rule,
/// `suppress_prefixlength`/`suppress_ifgroup`) passes on what it does not take: not a shadow.
fn shadowing_rule<'a>(
    subject: &Subject<'_>,
    kernel: &'a KernelView<'_>,
    found: &RouteLookup,
    source: IpAddr,
    target: IpAddr,
) -> Option<&'a Rule> {
    let ours = subject.rule.as_ref()?;
    kernel.rules.iter().find(|r| {
        r.priority < ours.priority
            && r.table == found.table
            && r.table != ours.table
            && r.src.is_none_or(|src| covers(&src, source))
            && r.dst.is_none_or(|dst| covers(&dst, target))
            && r.suppress_prefixlen.is_none()
            && r.suppress_ifgroup.is_none()
    })
}

fn covers(net: &IpNet, addr: IpAddr) -> bool {
    super::subjects::covers(net, addr)
}

fn rule_text(rule: &Rule) -> String {
    let selector = |net: Option<IpNet>| net.map_or("all".to_string(), |n| n.to_string());
    let mut text = format!("{}: from {}", rule.priority, selector(rule.src));
    if let Some(dst) = rule.dst {
        text.push_str(&format!(" to {dst}"));
    }
    text + &format!(" lookup {}", table_name(rule.table))
}

fn has_default_route(kernel: &KernelView<'_>, table: u32, target: IpAddr) -> bool {
    kernel
        .routes
        .iter()
        .any(|r| r.table == table && r.dst.prefix() == 0 && covers(&r.dst, target))
}

/// A link's name as the kernel has it, `ifindex N` when it is gone, `-` for none.
pub(super) fn link_name(index: Option<u32>, kernel: &KernelView<'_>) -> String {
    index.map_or("-".to_string(), |index| {
        kernel
            .links
            .iter()
            .find(|l| l.index == index)
            .map_or(format!("ifindex {index}"), |l| l.name.clone())
    })
}

pub(super) fn path_of(found: &RouteLookup, kernel: &KernelView<'_>) -> Path {
    Path {
        dev: link_name(found.oif, kernel),
        gateway: found.gateway,
        table: found.table,
    }
}

/// The metadata service: the kernel's route to it must leave by the primary NIC.
pub(super) fn check_metadata(
    provider: ProviderKind,
    links: &[LinkStatus],
    kernel: &KernelView<'_>,
    lookup: &mut Lookup<'_>,
) -> Line {
    let address = IpAddr::V4(provider.profile().metadata_v4);
    let primary = links.iter().find(|l| l.device_index == 0);
    let answer = lookup(&RouteQuery {
        dst: address,
        src: None,
        iif: None,
    });
    let via = answer.as_ref().ok().map(|found| path_of(found, kernel));
    let reason = match (&answer, primary) {
        (Err(e), _) => Some(format!("the kernel has no route to it: {e}")),
        (Ok(_), None) => Some("the primary NIC is not among the configured links".to_string()),
        (Ok(found), Some(primary)) if found.oif != Some(primary.ifindex) => {
            Some(format!("not reached by the primary NIC {}", primary.name))
        }
        (Ok(_), Some(_)) => None,
    };
    Line {
        subject: format!("metadata {address}"),
        link: primary.map_or("-".to_string(), |p| p.name.clone()),
        ok: reason.is_none(),
        via,
        reason,
    }
}
