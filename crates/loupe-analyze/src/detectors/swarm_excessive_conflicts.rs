//! `swarm_excessive_conflicts` (attocode-py): more than
//! `swarm_conflicts_per_wave` (2) `swarm_conflict` events per
//! `swarm_wave_start`. Medium.

use loupe_model::EventKind;

use crate::{Issue, Severity};

use super::{issue, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let (mut waves, mut conflicts) = (0u64, 0u64);
    for e in &cx.facts.session.events {
        match e.kind {
            EventKind::SwarmWaveStart => waves += 1,
            EventKind::SwarmConflict => conflicts += 1,
            _ => {}
        }
    }
    if waves == 0 || conflicts as f64 / waves as f64 <= cx.t.swarm_conflicts_per_wave {
        return;
    }
    out.push(issue(
        "swarm_excessive_conflicts",
        Severity::Medium,
        "Excessive swarm conflicts".to_owned(),
        format!("{conflicts} file conflicts in {waves} waves ({:.1} per wave): workers edit the same files.", conflicts as f64 / waves as f64),
        None,
        vec![format!("conflicts {conflicts}, waves {waves}")],
        "Partition work by file or module when decomposing, give each worker exclusive ownership of the files it edits, and serialise tasks that touch shared files.".to_owned(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_above_two_per_wave() {
        let mut t = Trace::new();
        t.push(EventKind::SwarmWaveStart, &[]);
        for _ in 0..3 {
            t.push(EventKind::SwarmConflict, &[]);
        }
        assert_eq!(run(check, &t).len(), 1);
    }

    #[test]
    fn does_not_trip_at_two_per_wave() {
        let mut t = Trace::new();
        t.push(EventKind::SwarmWaveStart, &[]);
        t.push(EventKind::SwarmConflict, &[]);
        t.push(EventKind::SwarmConflict, &[]);
        assert!(run(check, &t).is_empty());
    }
}
