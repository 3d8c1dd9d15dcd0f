"""Learning-rate schedules of the papers' recipes, as a pure function of the epoch (resume-safe, no state).

`LrSchedule.factor(e)` is the multiplier of the base lr during epoch `e` (0-based: epoch 0 runs at the base lr):
- per-epoch exponential decay: x `gamma` after every epoch (CA-PF 0.99, StridedTransformer 0.95);
- step decay: x `step_factor` after every `step_every` epochs (PLT x0.9 every 4, StridedTransformer x0.5 every 5);
- milestones: x `step_factor` from each listed epoch index on (CDL: /10 from the 17th epoch = index 16);
- `step_replaces_gamma`: on an epoch boundary that takes a step, only the step factor applies (the official
  StridedTransformer code: `lr *= 0.5 if epoch % 5 == 0 else 0.95`);
- warm-up: `warmup_epochs` epochs of linear ramp from 1/(w+1) to 1 before the decays (no paper here uses one;
  kept for recipes that do).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.errors import InputError


@dataclass(frozen=True)
class LrSchedule:
    """lr(e) = base lr x factor(e); see the module docstring. All epochs 0-based."""

    gamma: float = 1.0
    step_every: int = 0
    step_factor: float = 1.0
    milestones: tuple[int, ...] = field(default_factory=tuple)
    step_replaces_gamma: bool = False
    warmup_epochs: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.gamma <= 1 or not 0 < self.step_factor <= 1:
            raise InputError(f"lr schedule: gamma and step factor must be in (0, 1]; got {self.gamma}, "
                             f"{self.step_factor}")
        if self.step_every < 0 or self.warmup_epochs < 0 or any(m < 1 for m in self.milestones):
            raise InputError(f"lr schedule: step_every, warmup_epochs >= 0 and milestones >= 1; got {self}")
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))

    def _is_step(self, boundary: int) -> bool:
        """Whether the boundary after `boundary` completed epochs (>= 1) takes a step."""
        return (self.step_every > 0 and boundary % self.step_every == 0) or boundary in self.milestones

    def factor(self, epoch: int) -> float:
        """Multiplier of the base lr during 0-based `epoch`."""
        if epoch < self.warmup_epochs:
            return (epoch + 1) / (self.warmup_epochs + 1)
        f = 1.0
        for boundary in range(1, epoch - self.warmup_epochs + 1):
            step = self._is_step(boundary)
            if step:
                f *= self.step_factor
            if not (step and self.step_replaces_gamma):
                f *= self.gamma
        return f

    def describe(self) -> str:
        """One line, e.g. 'x0.95/epoch, x0.5 every 5 epochs (instead of x0.95)'."""
        parts = []
        if self.warmup_epochs:
            parts.append(f"linear warm-up {self.warmup_epochs} epochs")
        if self.gamma != 1.0:
            parts.append(f"x{self.gamma:g}/epoch")
        if self.step_every:
            parts.append(f"x{self.step_factor:g} every {self.step_every} epochs"
                         + (f" (instead of x{self.gamma:g})" if self.step_replaces_gamma else ""))
        if self.milestones:
            parts.append(f"x{self.step_factor:g} from epoch {', '.join(str(m + 1) for m in self.milestones)}"
                         " (1-based)")
        return ", ".join(parts) or "constant"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LrSchedule:
        return cls(**{**d, "milestones": tuple(d.get("milestones", ()))})
