"""The one module that owns allocation: how units of a SKU move between pools.

    batch = available (open to everyone) + set_aside (for priority codes) + held + paid

Every move keeps all four counts >= 0, so held + paid <= batch always holds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SkuStock"]


@dataclass(slots=True)
class SkuStock:
    batch: int
    set_aside: int = 0
    held: int = 0
    paid: int = 0

    @property
    def available(self) -> int:
        return self.batch - self.set_aside - self.held - self.paid

    def take_open(self, quantity: int) -> bool:
        """Hold `quantity` units from the open pool, all or nothing."""
        if quantity <= 0 or quantity > self.available:
            return False
        self.held += quantity
        return True

    def take_set_aside(self) -> bool:
        """Hold one unit that was set aside for a priority code."""
        if self.set_aside <= 0:
            return False
        self.set_aside -= 1
        self.held += 1
        return True

    def set_aside_units(self, count: int) -> bool:
        if count <= 0 or count > self.available:
            return False
        self.set_aside += count
        return True

    def unsettle(self, quantity: int) -> None:
        """A payment that was not recorded: its units are held again."""
        if not 0 < quantity <= self.paid:
            raise AssertionError(f"unsettle of {quantity} with only {self.paid} paid")
        self.paid -= quantity
        self.held += quantity

    def unhold_set_aside(self) -> None:
        """A priority-code claim that was not recorded: its unit is set aside again."""
        if self.held <= 0:
            raise AssertionError("no held unit to set aside again")
        self.held -= 1
        self.set_aside += 1

    def release(self, quantity: int) -> None:
        """A held claim expired or was cancelled: its units go back to the open pool."""
        if not 0 < quantity <= self.held:
            raise AssertionError(f"release of {quantity} with only {self.held} held")
        self.held -= quantity

    def settle(self, quantity: int) -> None:
        """A held claim was paid."""
        if not 0 < quantity <= self.held:
            raise AssertionError(f"settle of {quantity} with only {self.held} held")
        self.held -= quantity
        self.paid += quantity

    def unsell(self, quantity: int) -> None:
        """A paid order refunded before it shipped: its units go back to the open pool."""
        if not 0 < quantity <= self.paid:
            raise AssertionError(f"unsell of {quantity} with only {self.paid} paid")
        self.paid -= quantity

    def grow(self, batch: int) -> bool:
        if batch < self.batch:
            return False
        self.batch = batch
        return True
