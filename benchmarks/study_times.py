"""How long each trial of a search or grid study took: the wall clock of its whole `dvc exp run` (every stage).

Usage: python benchmarks/study_times.py STORAGE STUDY OUT.json
  STORAGE: the study's journal file or database URL (as `luckybag grid/search --storage` took it).
Writes OUT.json with each trial's experiment name, state, start, end and seconds, and the load average now;
the machine's other work during the trials is not recorded here (say what ran beside it where it is quoted).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from provenance import provenance  # noqa: E402

from luckybag.io import write_json  # noqa: E402
from luckybag.lab.search import open_storage  # noqa: E402


def trial_times(storage: str, study: str) -> list[dict]:
    import optuna

    trials = optuna.load_study(study_name=study, storage=open_storage(storage)).get_trials(deepcopy=False)
    return [
        {
            "name": trial.user_attrs.get("name") or trial.user_attrs.get("label"),
            "state": trial.state.name,
            "started": trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None,
            "completed": trial.datetime_complete.isoformat(timespec="seconds") if trial.datetime_complete else None,
            "seconds": round(trial.duration.total_seconds(), 1) if trial.duration else None,
        }
        for trial in trials
    ]


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1].split("\n")[0])
    storage, study, out = sys.argv[1:]
    trials = trial_times(storage, study)
    write_json(Path(out), {**provenance(), "study": study, "load_average_now": os.getloadavg(), "trials": trials})
    for trial in trials:
        print(f"{trial['name']}: {trial['state']} {trial['seconds']} s")


if __name__ == "__main__":
    main()
