//! What an activation history means. Each scope (global, or one instance) has an append-only history;
//! activations push a version on the scope's stack, rollbacks (by a user or automatic) pop one. The
//! version active for an instance is its own newest entry, else the newest global one, else the
//! connector embedded in the binary. Pure functions over the history, so every backend means the same.

use crate::state::{Activation, ActivationKind, Version};

/// The versions activated in a scope and not rolled back, oldest first.
pub(super) fn stack(history: &[Activation]) -> Vec<Version> {
    let mut st = Vec::new();
    for a in history {
        match a.kind {
            ActivationKind::Activate => st.push(a.version.clone()),
            ActivationKind::Rollback | ActivationKind::AutoRollback => {
                st.pop();
            }
        }
    }
    st
}

/// The version active for an instance, from its own newest entry and the newest global one.
pub(super) fn active(own: Option<&Activation>, global: Option<&Activation>) -> Version {
    own.or(global)
        .map_or(Version::Embedded, |a| a.version.clone())
}

/// What undoing the newest activation still in force in a scope makes active there: the version
/// activated before it; for an instance with none, the global choice (`global_newest`); globally with
/// none, the embedded connector. `None` when nothing can be undone.
pub(super) fn rollback_target(
    history: &[Activation],
    is_instance_scope: bool,
    global_newest: Option<&Activation>,
) -> Option<Version> {
    let mut st = stack(history);
    st.pop()?;
    Some(match (st.last(), is_instance_scope) {
        (Some(previous), _) => previous.clone(),
        (None, true) => global_newest.map_or(Version::Embedded, |a| a.version.clone()),
        (None, false) => Version::Embedded,
    })
}

/// How an instance is rolled back from a version that keeps failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AutoRollback {
    /// Undo the instance's own newest activation (it has one).
    UndoOwn,
    /// Pin the instance to the global version before the current global one (or the embedded one).
    Pin(Version),
    /// Nothing to roll back to: it runs the embedded connector.
    Nothing,
}

/// The automatic rollback for an instance with `own` history, given the global history.
pub(super) fn auto_rollback(own: &[Activation], global: &[Activation]) -> AutoRollback {
    if !stack(own).is_empty() {
        return AutoRollback::UndoOwn;
    }
    let mut g = stack(global);
    if g.pop().is_none() {
        return AutoRollback::Nothing;
    }
    AutoRollback::Pin(g.last().cloned().unwrap_or(Version::Embedded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ComponentHash, Scope};

    fn v(h: &str) -> Version {
        Version::Stored(ComponentHash::from_stored(h.into()))
    }

    fn entry(seq: i64, scope: Scope, version: Version, kind: ActivationKind) -> Activation {
        Activation {
            seq,
            scope,
            version,
            at_ms: seq,
            kind,
            reason: kind.as_str().into(),
        }
    }

    fn act(seq: i64, scope: Scope, version: Version) -> Activation {
        entry(seq, scope, version, ActivationKind::Activate)
    }

    #[test]
    fn nothing_activated_means_the_embedded_connector() {
        assert_eq!(active(None, None), Version::Embedded);
    }

    #[test]
    fn an_instance_activation_wins_over_the_global_one() {
        let g = act(2, Scope::Global, v("bb"));
        let canary = act(3, Scope::Instance(7), v("aa"));
        assert_eq!(active(Some(&canary), Some(&g)), v("aa"));
        assert_eq!(active(None, Some(&g)), v("bb"));
    }

    #[test]
    fn activations_push_and_rollbacks_pop() {
        let h = [
            act(1, Scope::Global, v("aa")),
            act(2, Scope::Global, v("bb")),
            entry(3, Scope::Global, v("aa"), ActivationKind::Rollback),
            act(4, Scope::Global, v("cc")),
        ];
        assert_eq!(stack(&h), vec![v("aa"), v("cc")]);
    }

    #[test]
    fn a_global_rollback_goes_back_one_version_then_to_embedded_then_nowhere() {
        let mut h = vec![
            act(1, Scope::Global, v("aa")),
            act(2, Scope::Global, v("bb")),
        ];
        assert_eq!(rollback_target(&h, false, None), Some(v("aa")));
        h.push(entry(3, Scope::Global, v("aa"), ActivationKind::Rollback));
        assert_eq!(rollback_target(&h, false, None), Some(Version::Embedded));
        h.push(entry(
            4,
            Scope::Global,
            Version::Embedded,
            ActivationKind::Rollback,
        ));
        assert_eq!(
            rollback_target(&h, false, None),
            None,
            "nothing left to undo"
        );
        assert_eq!(rollback_target(&[], false, None), None);
    }

    #[test]
    fn an_instance_rollback_without_an_earlier_own_version_falls_back_to_the_global_choice() {
        let g = act(2, Scope::Global, v("bb"));
        let own = [act(3, Scope::Instance(7), v("aa"))];
        assert_eq!(rollback_target(&own, true, Some(&g)), Some(v("bb")));
        assert_eq!(rollback_target(&own, true, None), Some(Version::Embedded));
    }

    #[test]
    fn an_automatic_rollback_undoes_the_instances_own_activation_first() {
        let own = [act(3, Scope::Instance(9), v("aa"))];
        assert_eq!(auto_rollback(&own, &[]), AutoRollback::UndoOwn);
    }

    #[test]
    fn an_automatic_rollback_of_a_global_version_pins_only_that_instance() {
        let global = [
            act(1, Scope::Global, v("aa")),
            act(2, Scope::Global, v("bb")),
        ];
        assert_eq!(auto_rollback(&[], &global), AutoRollback::Pin(v("aa")));
        assert_eq!(
            auto_rollback(&[], &global[..1]),
            AutoRollback::Pin(Version::Embedded)
        );
        // After the pin, the instance's own history is a rollback entry: its stack stays empty.
        let pinned = [entry(
            3,
            Scope::Instance(9),
            v("aa"),
            ActivationKind::AutoRollback,
        )];
        assert!(stack(&pinned).is_empty());
        assert_eq!(active(pinned.last(), global.last()), v("aa"));
    }

    #[test]
    fn an_automatic_rollback_on_the_embedded_connector_does_nothing() {
        assert_eq!(auto_rollback(&[], &[]), AutoRollback::Nothing);
    }
}
