"""Messages that teach the difference: a PyTorch spelling names tinygraph's, torch.save's argument order is explained."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.torch_names import LEFT_OUT, TINYGRAPH_SPELLING


@pytest.mark.parametrize("name, hint", [("mm", "tg.matmul(a, b) or a @ b"), ("clip", "tg.clamp"),
                                        ("concat", "tg.cat"), ("as_tensor", "tg.from_numpy"),
                                        ("cuda", "CPU only"), ("utils", "from tinygraph.data import DataLoader")])
def test_a_missing_pytorch_name_names_the_tinygraph_spelling(name, hint):
    with pytest.raises(AttributeError, match=f"module 'tinygraph' has no attribute '{name}'") as caught:
        getattr(tg, name)
    assert hint in str(caught.value)


def test_every_hint_is_for_a_name_tinygraph_lacks_and_ordinary_misses_stay_plain():
    for name in [*TINYGRAPH_SPELLING, *LEFT_OUT]:
        with pytest.raises(AttributeError):      # a name tinygraph gained would make its hint wrong
            getattr(tg, name)
    with pytest.raises(AttributeError, match=r"^module 'tinygraph' has no attribute 'no_such_thing'$"):
        tg.no_such_thing
    assert not hasattr(tg, "mm")                 # hasattr still works: it is an AttributeError


def test_torch_save_argument_order_is_explained(tmp_path):
    path = tmp_path / "c.npz"
    with pytest.raises(TypeError, match=r"takes the path first.*torch\.save\(state, path\)'s order"):
        tg.save({"w": np.ones(2)}, path)
    with pytest.raises(TypeError, match="takes the path first"):
        tg.save({"w": np.ones(2)}, str(path))
    assert not path.exists()
    tg.save(path, {"w": np.ones(2)})
    np.testing.assert_array_equal(tg.load(path)["w"], np.ones(2))


def test_nn_functional_is_where_pytorch_users_import_it_from():
    import tinygraph.functional
    import tinygraph.nn.functional as F
    assert F.relu is tinygraph.functional.relu and tg.nn.functional.cross_entropy is tinygraph.functional.cross_entropy
    with pytest.raises(AttributeError):
        F.no_such_function
