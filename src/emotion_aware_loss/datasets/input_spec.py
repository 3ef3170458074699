"""The run's :class:`~emotion_aware_loss.models.inputs.InputSpec` as a JSON file."""

from __future__ import annotations

from kedro.io import DatasetError

from emotion_aware_loss.datasets.atomic import JSONDataset
from emotion_aware_loss.models.inputs import InputSpec


class InputSpecDataset(JSONDataset):
    """An :class:`~emotion_aware_loss.models.inputs.InputSpec` saved as JSON
    (atomic saves, arguments of ``json.JSONDataset``).

    Example (``conf/base/catalog.yml``)::

        input_spec:
          type: emotion_aware_loss.datasets.InputSpecDataset
          filepath: data/05_model_input/input_spec.json
    """

    def load(self) -> InputSpec:
        data = JSONDataset.load.__wrapped__(self)
        try:
            return InputSpec.from_dict(data, source=str(self._filepath))
        except (TypeError, ValueError) as exc:
            raise DatasetError(str(exc)) from exc

    def save(self, data: InputSpec) -> None:
        if not isinstance(data, InputSpec):
            raise DatasetError(
                f"{type(self).__name__} saves an InputSpec, got {type(data).__name__}"
            )
        JSONDataset.save.__wrapped__(self, data.to_dict())
