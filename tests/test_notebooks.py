"""The tutorials in examples/ run top to bottom with their CI parameters and make their pictures.

Each notebook runs once in the whole CI: on the backend its BACKEND parameter
names (the suite runs once per KERAS_BACKEND); on the other passes it is
skipped. Nothing is downloaded: the defaults use the bundled digits and
locally made checkpoints.
"""

import ast
import json
import os
import pathlib

import keras
import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

# Pictures each notebook must write into its OUTPUT_DIR, and checks of its summary.json.
EXPECTED = {
    "01_quickstart": (
        ("pretrained_predictions.png", "fine_tuning.png"),
        lambda summary: summary["classes"] == 10 and 0.0 <= summary["test_accuracy"] <= 1.0,
    ),
    "02_training_from_scratch": (
        (os.path.join("run", "training_curves.png"),),
        lambda summary: summary["replicas"] == 2 and summary["test_accuracy"] > 0.4,
    ),
    "03_export_and_serve": (
        ("served_predictions.png",),
        lambda summary: summary["max_difference"] < 1e-4
        and 0 <= summary["bytes_top1"] < 10
        and summary["version_path"].endswith(os.path.join("digits", "1")),
    ),
    "04_look_inside": (
        ("token_map.png", "sparsity.png", "permutation.png", "permutation_demo.png"),
        lambda summary: summary["permutation_difference"] < 1e-5
        and sorted(summary["sparsity"]) == ["A", "B", "C"]
        and sorted(summary["accuracies"]) == ["ConvNet", "ResMLP"],
    ),
    "05_repmlp_reparameterization": (
        ("reparameterization.png",),
        lambda summary: summary["max_difference"] < 1e-5
        and summary["parameters"]["deployed"] < summary["parameters"]["training form"],
    ),
}


def notebook_parameters(path):
    """The constant assignments (`NAME = value`) of the cell tagged "parameters"."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    cells = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    values = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            values[node.targets[0].id] = node.value.value
    return values


def check_png(path):
    import matplotlib.image

    assert path.is_file(), f"{path} was not written"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 50 and image.shape[1] > 50, path
    assert float(np.std(image[..., :3])) > 0.01, f"{path} is one flat colour"


def test_every_notebook_is_checked_and_ships_without_outputs():
    assert sorted(path.stem for path in EXAMPLES.glob("*.ipynb")) == sorted(EXPECTED)
    import nbformat

    for name in EXPECTED:
        parameters = notebook_parameters(EXAMPLES / f"{name}.ipynb")
        assert parameters["INSTALL"] is False and parameters["BACKEND"] in ("tensorflow", "jax", "torch")
        notebook = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            assert not cell.get("outputs") and not cell.get("execution_count"), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_and_draws_its_pictures(name, tmp_path):
    path = EXAMPLES / f"{name}.ipynb"
    backend = notebook_parameters(path)["BACKEND"]
    if backend != keras.config.backend():
        pytest.skip(f"{name} runs once in CI, on the {backend} backend pass")
    import papermill

    output_dir = tmp_path / "outputs"
    papermill.execute_notebook(
        str(path), str(tmp_path / f"{name}.ipynb"), parameters={"OUTPUT_DIR": str(output_dir)},
        kernel_name="python3", cwd=str(tmp_path), progress_bar=False, log_output=False,
    )
    pictures, check = EXPECTED[name]
    for picture in pictures:
        check_png(output_dir / picture)
    summary = json.loads((output_dir / "summary.json").read_text())
    assert check(summary), summary
