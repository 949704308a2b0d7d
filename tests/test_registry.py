import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import require

import seqnet
from seqnet import Backend, BackendError, BackendUnavailable
from seqnet.registry import registered


def test_import_seqnet_imports_no_framework():
    code = (
        "import sys, seqnet; m = seqnet.build(seqnet.Spec('lstm', 3, 5)); seqnet.backends(); "
        "heavy = {'torch', 'paddle', 'jax'} & set(sys.modules); assert not heavy, sorted(heavy)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_builtin_backends_come_from_entry_points():
    from importlib import metadata

    names = {e.name for e in metadata.entry_points(group="seqnet.backends")}
    assert {"numpy", "torch", "paddle", "jax"} <= names
    assert list(registered())[0] == "numpy"
    assert seqnet.backends()[0] == "numpy"


def test_unknown_backend():
    with pytest.raises(BackendError, match=r"backend='tensorflow' is not registered; known backends: \['numpy'"):
        seqnet.build(seqnet.Spec("rnn", 1, 2), backend="tensorflow")


def test_missing_framework_names_what_to_install():
    seqnet.register_backend(Backend("ghost", "ghost_impl", requires=("no_such_framework_xyz",), install="ghostlib"))
    assert "ghost" in registered() and "ghost" not in seqnet.backends()
    with pytest.raises(BackendUnavailable, match="needs no_such_framework_xyz.*pip install ghostlib"):
        seqnet.build(seqnet.Spec("rnn", 1, 2), backend="ghost")
    with pytest.raises(BackendError, match="already registered"):
        seqnet.register_backend(Backend("ghost", "other"))


def test_third_party_plugin_via_entry_point(tmp_path):
    """A plugin installed from outside seqnet (a dist-info with an entry point) is found and built."""
    pkg = tmp_path / "doubler_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from seqnet import Backend
            backend = Backend(name="doubler", module="doubler_plugin.impl", requires=("numpy",))
            """
        )
    )
    (pkg / "impl.py").write_text(
        textwrap.dedent(
            """
            # a toy backend: the NumPy model, outputs doubled
            from seqnet_backends.numpy import model as ref

            class Doubled:
                seqnet_backend = "doubler"
                def __init__(self, inner):
                    self.inner, self.spec = inner, inner.spec
                def __call__(self, x, state=None, lengths=None):
                    y, s = self.inner(x, state, lengths)
                    return 2 * y, s

            def build(spec, weights, dtype, **options):
                return Doubled(ref.build(spec, weights, dtype))

            def weights_of(model):
                return model.inner.weights
            """
        )
    )
    dist = tmp_path / "doubler_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: doubler-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[seqnet.backends]\ndoubler = doubler_plugin:backend\n")
    code = textwrap.dedent(
        f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np, seqnet
        assert "doubler" in seqnet.backends(), seqnet.backends()
        spec = seqnet.Spec("gru", 2, 3)
        x = np.ones((1, 4, 2), np.float32)
        a, _ = seqnet.build(spec, "doubler")(x)
        b, _ = seqnet.build(spec, "numpy")(x)
        assert np.allclose(a, 2 * b)
        assert list(seqnet.weights_of(seqnet.build(spec, "doubler"))) == list(seqnet.layout(spec))
        print("plugin ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert "plugin ok" in out.stdout


def test_weights_of_needs_a_seqnet_model():
    with pytest.raises(BackendError, match="made by seqnet.build"):
        seqnet.weights_of(np.zeros(3))


def test_under_ci_a_skip_fails_the_run_and_ci_sets_it(tmp_path):
    """tests/conftest.py's rule, run on a copy of it: a test that skips, at run time or at import, fails under
    CI=true (and the run's exit status says so); without CI=true it is an ordinary skip. .ci/run sets CI=true."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).parent
    shutil.copy(here / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_skips.py").write_text(
        "import pytest\nfrom conftest import importorskip\n\n\ndef test_plain_skip():\n    pytest.skip('nothing')\n\n\n"
        "def test_missing():\n    importorskip('a_module_not_installed', 'not here')\n"
    )
    base = {k: v for k, v in os.environ.items() if k != "CI"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path)]
    local = subprocess.run(command, env=base, capture_output=True, text=True, cwd=tmp_path)
    assert local.returncode == 0 and "2 skipped" in local.stdout, local.stdout[-2000:]
    ci = subprocess.run(command, env={**base, "CI": "true"}, capture_output=True, text=True, cwd=tmp_path)
    assert ci.returncode == 1, ci.stdout[-2000:]
    assert "1 failed" in ci.stdout and "CI=true: 1 skipped, which fails the run" in ci.stdout, ci.stdout[-2000:]
    assert "export CI=true" in (here.parent / ".ci" / "run").read_text()


# -- the default backend ------------------------------------------------------------------------------------------
def test_the_default_backend_comes_from_set_backend_then_the_environment_then_numpy(monkeypatch):
    require("torch")
    require("jax")
    monkeypatch.delenv("SEQNET_BACKEND", raising=False)
    spec = seqnet.Spec("gru", 2, 3)
    assert seqnet.default_backend() == ("numpy", "the built-in default")
    assert seqnet.build(spec).seqnet_backend == "numpy"
    monkeypatch.setenv("SEQNET_BACKEND", "torch")
    assert seqnet.default_backend() == ("torch", "the environment variable SEQNET_BACKEND")
    assert seqnet.build(spec).seqnet_backend == "torch"
    x, y = np.zeros((1, 2, 2), "float32"), np.zeros((1, 2, 3), "float32")
    with seqnet.set_backend("jax"):
        assert seqnet.default_backend() == ("jax", "seqnet.set_backend")
        assert seqnet.build(spec).seqnet_backend == "jax"
        with seqnet.set_backend("numpy"):
            assert seqnet.build(spec).seqnet_backend == "numpy"
        assert seqnet.build(spec).seqnet_backend == "jax"
        loss, grads, _ = seqnet.value_and_grad(spec, seqnet.init_weights(spec), x, y)  # on jax
        assert loss == pytest.approx(seqnet.value_and_grad(spec, seqnet.init_weights(spec), x, y, backend="numpy")[0])
    assert seqnet.build(spec).seqnet_backend == "torch"  # the block is over: the environment again
    seqnet.set_backend("jax")  # as a plain call: for the rest of the process (the test's fixture restores it)
    assert seqnet.default_backend()[0] == "jax"


def test_a_default_backend_that_does_not_exist_or_is_not_installed_is_named(monkeypatch):
    monkeypatch.setenv("SEQNET_BACKEND", "tensorflow")
    with pytest.raises(BackendError, match=r"SEQNET_BACKEND='tensorflow' is not a registered backend; registered: "
                                           r"\['numpy'"):  # fmt: skip
        seqnet.build(seqnet.Spec("gru", 2, 3))
    monkeypatch.delenv("SEQNET_BACKEND")
    seqnet.register_backend(Backend("ghost", "ghost_module", requires=("no_such_framework_here",), install="ghost"))
    with pytest.raises(BackendUnavailable, match=r"set_backend\('ghost'\): backend 'ghost' is registered but its "
                                                 r"framework is not installed \(pip install ghost\)"):  # fmt: skip
        seqnet.set_backend("ghost")
    with pytest.raises(BackendError, match=r"set_backend\(3\) is not a registered backend"):
        seqnet.set_backend(3)
    assert seqnet.default_backend() == ("numpy", "the built-in default")  # nothing was set by the refusals


def test_seqnet_info_shows_the_default_backend_and_where_it_comes_from():
    import os

    env = {**os.environ, "SEQNET_BACKEND": "numpy"}
    run = subprocess.run([sys.executable, "-m", "seqnet.cli", "info"], capture_output=True, text=True, env=env,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "default backend: numpy (from the environment variable SEQNET_BACKEND)" in run.stdout


# -- devices: named and checked before the framework sees them -------------------------------------------------------
def test_a_device_that_is_not_here_is_refused_by_name_on_every_backend():
    """On this machine (no GPU in CI): each framework's GPU names, an impossible index and a made-up name get a
    seqnet error naming the device asked for and the devices that exist, not torch's AssertionError, Paddle's
    ValueError or JAX's device_put message; the devices that exist build."""
    for backend in ("torch", "paddle", "jax"):
        require(backend)
    spec = seqnet.Spec("gru", 2, 3)
    impls = {b: seqnet.registry.implementation(b) for b in ("torch", "paddle", "jax")}
    here = {b: impls[b].devices() for b in impls}
    assert here["torch"][0] == "cpu" and here["paddle"][0] == "cpu" and here["jax"][0] == "cpu:0"
    cases = {
        "torch": ["cuda", "cuda:3", "cuda:-1", "banana", 1.5],
        "paddle": ["gpu", "gpu:3", "gpu:-1", "cuda"],
        "jax": ["gpu", "gpu:3", "tpu", "cpu:7", "banana"],
    }
    for backend, names in cases.items():
        for name in names:
            if isinstance(name, str) and name.split(":")[0] in ("cuda", "gpu") and name in here[backend]:
                continue  # a machine with that GPU: it exists
            with pytest.raises(BackendError, match=rf"device={re.escape(repr(name))} .*devices here"):
                seqnet.build(spec, backend, device=name)
    assert seqnet.build(spec, "torch", device="cpu").head is None
    assert seqnet.build(spec, "paddle", device="cpu") is not None
    import jax

    model = seqnet.build(spec, "jax", device="cpu")
    assert {d.platform for leaf in model.params.values() for d in leaf.devices()} == {"cpu"}
    assert seqnet.build(spec, "jax", device=jax.devices()[0]) is not None
