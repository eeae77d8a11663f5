"""placeholder"""

from typing import Any


class FieldCipher:
    def encode(self, event: Any, event_id: str) -> str:
        raise NotImplementedError

    def decode(self, stored: Any) -> Any:
        raise NotImplementedError


def rotate(store: Any, cipher: Any, *, batch_size: int, progress: Any) -> int:
    raise NotImplementedError
