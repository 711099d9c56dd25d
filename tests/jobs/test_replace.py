"""A replacement names, for each kept class of the weak model, one of its own modules."""

from __future__ import annotations

from pathlib import Path

from modules_store import MAX_PAGE_LIMIT, NewModel, NewModule, open_store
from service.jobs.replace import _provenance_modules


def test_a_class_listed_beyond_the_first_page_of_modules_is_found(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    model = store.create_model(
        NewModel(
            name="many-taus",
            arch="mlp",
            arch_config={},
            input_spec={},
            labels=["a", "b"],
            alpha=1.0,
            beta=1.0,
            gamma=0.3,
            weights_sha256="0" * 64,
        )
    )
    taus = [(i + 1) / (MAX_PAGE_LIMIT + 1) for i in range(MAX_PAGE_LIMIT + 1)]
    store.create_modules(
        [
            NewModule(
                model_id=model.id,
                class_index=c,
                label="ab"[c],
                tau=tau,
                mask_sha256="1" * 64,
                params=1,
                size=0.5,
                onnx_sha256="2" * 64,
            )
            for c in (0, 1)
            for tau in taus
        ]
    )
    # Modules list by class, then τ: every module of class 0 comes before the first of class 1.
    found = _provenance_modules(store, model.id, [1])
    assert found[1].class_index == 1 and found[1].model_id == model.id
