"""PaddlePaddle implementations: seqnet's backend (fused and generic) and paddle.nn layers used directly.

Requirements: paddlepaddle. Forward runs in eval mode under paddle.no_grad(); a training step is forward
in train mode, MSE, backward and a paddle.optimizer.Momentum step (SGD, lr 1e-3, momentum 0.9), the same for
every implementation here; with device="cuda" on the GPU (each timed call ends by reading its result).
Not Adam: on 2 threads one paddle.optimizer.Adam step made every later Paddle
LSTM forward in the process about 4x slower (Paddle 3.3.1; run.py's worker).
"""

from __future__ import annotations

import warnings

import numpy as np
from seqnet_backends.paddle.model import paddle

import seqnet

from .cells import user_spec
from .workloads import Impl, inputs


def implementations(spec, size, threads, device="cpu"):
    paddle.base.core.set_num_threads(threads)
    paddle.set_device("gpu" if device == "cuda" else "cpu")  # every tensor and layer below is made there
    weights = seqnet.init_weights(spec)
    x_np, y_np = inputs(spec, size)
    x, y = paddle.to_tensor(x_np), paddle.to_tensor(y_np)
    cls = {"rnn": paddle.nn.SimpleRNN, "lstm": paddle.nn.LSTM, "gru": paddle.nn.GRU}[spec.cell]
    native = cls(spec.input_size, spec.hidden_size, spec.num_layers,
                 direction="bidirect" if spec.bidirectional else "forward")  # fmt: skip
    with warnings.catch_warnings():  # the cell-level names (0.cell.weight_ih) alias the flat ones set here
        warnings.simplefilter("ignore", UserWarning)
        native.set_state_dict({k: paddle.to_tensor(np.asarray(v)) for k, v in weights.items()})
    models = {
        "seqnet-paddle": seqnet.build(spec, "paddle", weights),
        "paddle-nn": native,
        "seqnet-paddle-generic": seqnet.build(spec, "paddle", weights, fused=False),
    }
    if spec.cell == "lstm":  # the LSTM written as a user's cell (cells.py): the path every registered cell takes
        models["seqnet-paddle-cell"] = seqnet.build(user_spec(spec), "paddle", weights)
    impls = []
    for name, model in models.items():
        opt = paddle.optimizer.Momentum(learning_rate=1e-3, momentum=0.9, parameters=model.parameters())

        def forward(model=model):
            model.eval()
            with paddle.no_grad():
                out = model(x)[0]
            out.numpy()  # wait for the result
            return out

        def train(model=model, opt=opt):
            model.train()
            loss = paddle.mean((model(x)[0] - y) ** 2)
            loss.backward()
            opt.step()
            opt.clear_grad()
            float(loss)

        impls.append(Impl(name, "paddle", forward, train, lambda f=forward: f().numpy()))
    return impls
