//! An in-memory kernel for the round's unit tests: it holds a `KernelState`, applies each change
//! of a batch to it as the kernel would (a VLAN link added gets the next index), answers EEXIST,
//! ENOENT or ENODEV where the kernel would, and can be told to answer a change with a given
//! errno, to change under the round before the next batch (a link unplugged, an address
//! removed by someone else) or to set the stop flag while it applies one.
//! Every batch and every claim lands in one journal, in the order they happened.

use crate::kernel::{Change, Kernel, KernelState, Link, OperState, VLAN_KIND};
use crate::netlink::NetlinkError;
use crate::plan::Owned;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What happened, in order: a record claimed (the round's `keep`) or a batch sent.
#[derive(Debug, Clone)]
pub(super) enum Event {
    Kept(Owned),
    Batch(Vec<Change>),
}

pub(super) type Journal = Rc<RefCell<Vec<Event>>>;

type Meanwhile = Box<dyn FnOnce(&mut KernelState)>;

#[derive(Default)]
pub(super) struct MemoryKernel {
    pub state: KernelState,
    pub journal: Journal,
    /// Changes answered with an errno instead of being applied, each once.
    answers: Vec<(Change, i32)>,
    /// What happens to the kernel just before the next batch is applied.
    meanwhile: Option<Meanwhile>,
    /// Set while the next batch is applied (a shutdown arriving mid-batch).
    stop: Option<Arc<AtomicBool>>,
}

impl MemoryKernel {
    pub(super) fn new(state: KernelState) -> MemoryKernel {
        MemoryKernel {
            state,
            ..MemoryKernel::default()
        }
    }

    /// The next time `change` is sent, it is refused with `errno` and not applied.
    pub(super) fn answer(&mut self, change: Change, errno: i32) {
        self.answers.push((change, errno));
    }

    /// `change` happens to the kernel just before the next batch is applied.
    pub(super) fn meanwhile(&mut self, change: impl FnOnce(&mut KernelState) + 'static) {
        self.meanwhile = Some(Box::new(change));
    }

    /// `stop` is set while the next batch is applied.
    pub(super) fn stop_during_batch(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    fn change(&mut self, change: &Change) -> Result<(), i32> {
        if let Some(i) = self.answers.iter().position(|(c, _)| c == change) {
            return Err(self.answers.remove(i).1);
        }
        let state = &mut self.state;
        match change {
            Change::LinkUp { ifindex, .. } => link(state, *ifindex).map(|l| {
                l.up = true;
                l.oper_state = OperState::Up;
            }),
            Change::SetMtu { ifindex, mtu, .. } => link(state, *ifindex).map(|l| l.mtu = *mtu),
            Change::SetGroup { ifindex, group, .. } => {
                link(state, *ifindex).map(|l| l.group = *group)
            }
            Change::PromoteSecondaries { ifindex, .. } => link(state, *ifindex).map(|_| ()),
            Change::AddAddress(a) => {
                link(state, a.ifindex)?;
                let same = |k: &&crate::kernel::Address| (k.ifindex, k.addr) == (a.ifindex, a.addr);
                add(&mut state.addresses, a, same)
            }
            Change::DelAddress(a) => del(&mut state.addresses, |k| {
                (k.ifindex, k.addr) == (a.ifindex, a.addr)
            }),
            Change::AddRoute(r) => {
                if let Some(oif) = r.oif {
                    link(state, oif)?;
                }
                add(&mut state.routes, r, |k| {
                    (k.table, k.dst) == (r.table, r.dst)
                })
            }
            Change::AdoptRoute(r) => {
                state
                    .routes
                    .retain(|k| (k.table, k.dst) != (r.table, r.dst));
                state.routes.push(r.clone());
                Ok(())
            }
            Change::DelRoute(r) => del(&mut state.routes, |k| k == r),
            Change::AddRule(r) => add(&mut state.rules, r, |k| *k == r),
            Change::DelRule(r) => del(&mut state.rules, |k| k == r),
            Change::AddVlan {
                name, parent, mac, ..
            } => add_vlan(state, name, *parent, *mac),
            Change::DelVlan { ifindex, .. } => {
                link(state, *ifindex)?;
                state.links.retain(|l| l.index != *ifindex);
                state.addresses.retain(|a| a.ifindex != *ifindex);
                state.routes.retain(|r| r.oif != Some(*ifindex));
                Ok(())
            }
        }
    }
}

fn link(state: &mut KernelState, ifindex: u32) -> Result<&mut Link, i32> {
    let found = state.links.iter_mut().find(|l| l.index == ifindex);
    found.ok_or(libc::ENODEV)
}

fn add<T: Clone>(objects: &mut Vec<T>, object: &T, same: impl Fn(&&T) -> bool) -> Result<(), i32> {
    if objects.iter().any(|k| same(&k)) {
        return Err(libc::EEXIST);
    }
    objects.push(object.clone());
    Ok(())
}

fn del<T>(objects: &mut Vec<T>, same: impl Fn(&T) -> bool) -> Result<(), i32> {
    let before = objects.len();
    objects.retain(|k| !same(k));
    if objects.len() == before {
        return Err(libc::ENOENT);
    }
    Ok(())
}

/// A VLAN link, up, at the next index, with its parent's MTU (as the kernel makes it).
fn add_vlan(
    state: &mut KernelState,
    name: &str,
    parent: u32,
    mac: crate::net::Mac,
) -> Result<(), i32> {
    let mtu = link(state, parent)?.mtu;
    if state.links.iter().any(|l| l.name == name) {
        return Err(libc::EEXIST);
    }
    let index = state.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
    state.links.push(Link {
        index,
        name: name.to_string(),
        mac: Some(mac),
        mtu,
        up: true,
        oper_state: OperState::Up,
        kind: Some(VLAN_KIND.to_string()),
        master: None,
        loopback: false,
        ethernet: true,
        group: 0,
    });
    Ok(())
}

impl Kernel for MemoryKernel {
    type Error = NetlinkError;

    fn state(&mut self) -> Result<KernelState, NetlinkError> {
        Ok(self.state.clone())
    }

    fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        Ok(self.state.links.clone())
    }

    fn apply(&mut self, changes: &[Change]) -> Vec<Result<(), NetlinkError>> {
        let journal = Rc::clone(&self.journal);
        journal.borrow_mut().push(Event::Batch(changes.to_vec()));
        if let Some(change) = self.meanwhile.take() {
            change(&mut self.state);
        }
        if let Some(stop) = self.stop.take() {
            stop.store(true, Ordering::SeqCst);
        }
        changes
            .iter()
            .map(|change| {
                self.change(change)
                    .map_err(|errno| NetlinkError::from_kernel(errno, format!("{change:?}"), None))
            })
            .collect()
    }
}
