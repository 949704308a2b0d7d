"""PyTorch implementations: seqnet's backend (fused and generic paths) and nn.RNN/LSTM/GRU used directly.

Requirements: torch. Forward runs under torch.no_grad(); a training step is forward, MSE, backward and a
torch.optim.SGD step (lr 1e-3, momentum 0.9), the same for every implementation here. With device="cuda"
everything runs on the GPU (cuDNN's layers as the anchor; each timed call ends in torch.cuda.synchronize),
and bfloat16 and float16 rows of seqnet's model and of nn.LSTM/GRU/RNN are added (mixed precision).
"""

from __future__ import annotations

import torch

import seqnet

from .cells import user_spec
from .workloads import Impl, inputs


def _native(spec, weights, dtype, device):
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[spec.cell](
        spec.input_size, spec.hidden_size, spec.num_layers, batch_first=True, bidirectional=spec.bidirectional
    )
    layer.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    return layer.to(device=device, dtype=dtype)


def implementations(spec, size, threads, device="cpu"):
    torch.set_num_threads(threads)
    weights = seqnet.init_weights(spec)
    x_np, y_np = inputs(spec, size)
    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    models = {
        "seqnet-torch": (seqnet.build(spec, "torch", weights, device=device), torch.float32),
        "torch-nn": (_native(spec, weights, torch.float32, device), torch.float32),
        "seqnet-torch-generic": (seqnet.build(spec, "torch", weights, fused=False, device=device), torch.float32),
    }
    if spec.cell == "lstm":  # the LSTM written as a user's cell (cells.py): the path every registered cell takes
        models["seqnet-torch-cell"] = (seqnet.build(user_spec(spec), "torch", weights, device=device), torch.float32)
    if cuda:  # mixed precision, where cuDNN runs it
        for label, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
            models[f"seqnet-torch-{label}"] = (
                seqnet.build(spec, "torch", weights, dtype=str(dtype)[6:], device=device),
                dtype,
            )
            models[f"torch-nn-{label}"] = (_native(spec, weights, dtype, device), dtype)
    impls = []
    for name, (model, dtype) in models.items():
        x = torch.from_numpy(x_np).to(device=device, dtype=dtype)
        y = torch.from_numpy(y_np).to(device=device, dtype=dtype)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def forward(model=model, x=x):
            with torch.no_grad():
                out = model(x)[0]
            sync()
            return out

        def train(model=model, opt=opt, x=x, y=y):
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((model(x)[0] - y) ** 2)
            loss.backward()
            opt.step()
            sync()

        impls.append(Impl(name, "torch", forward, train, lambda f=forward: f().float().cpu().numpy()))
    return impls
