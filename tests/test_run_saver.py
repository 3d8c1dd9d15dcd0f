"""When a run writes last.pt / best.pt (lifters.run_saver): first evaluation, then at most every `every_s`, always
when forced (end of run, Ctrl-C); best.pt holds the best model's weights as they were, not the live ones."""

from __future__ import annotations

import torch

from lifters.checkpoint import load_checkpoint
from lifters.run_saver import RunSaver


def test_throttled_last_and_pending_best(tmp_path) -> None:
    model = torch.nn.Linear(2, 1)
    step = {"n": 0}

    def payload() -> dict:
        return {"model": "poseformer", "weights": model.state_dict(), "optimizer": {"lr": 1.0}, "rng": {},
                "step": step["n"]}

    saver = RunSaver(tmp_path, payload, every_s=3600)
    with torch.no_grad():
        model.weight.fill_(1.0)
    saver.improved()  # step 0 is the best so far
    saver.save()  # the first write always happens
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 0
    best = load_checkpoint(tmp_path / "best.pt")
    assert "optimizer" not in best and "rng" not in best and float(best["weights"]["weight"].sum()) == 2.0

    step["n"] = 1
    with torch.no_grad():
        model.weight.fill_(5.0)
    saver.improved()  # a new best at step 1, then the live weights move on
    with torch.no_grad():
        model.weight.fill_(9.0)
    step["n"] = 2
    saver.save()  # within every_s: nothing written
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 0 and load_checkpoint(tmp_path / "best.pt")["step"] == 0
    saver.save(force=True)  # end of run / Ctrl-C
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["step"] == 1 and float(best["weights"]["weight"].sum()) == 10.0  # the step-1 weights, copied


def test_every_s_zero_writes_each_time(tmp_path) -> None:
    n = {"step": 0}
    saver = RunSaver(tmp_path, lambda: {"model": "poseformer", "weights": {}, "step": n["step"]}, every_s=0.0)
    for n["step"] in range(3):
        saver.save()
        assert load_checkpoint(tmp_path / "last.pt")["step"] == n["step"]
    assert not (tmp_path / "best.pt").exists()
