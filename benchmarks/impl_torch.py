"""PyTorch implementations: seqnet's backend (fused and generic paths) and nn.RNN/LSTM/GRU used directly.

Requirements: torch. Forward runs under torch.no_grad(); a training step is forward, MSE, backward and a
torch.optim.SGD step (lr 1e-3, momentum 0.9), the same for every implementation here.
"""

from __future__ import annotations

import torch

import seqnet

from .workloads import Impl, inputs


def implementations(spec, size, threads):
    torch.set_num_threads(threads)
    weights = seqnet.init_weights(spec)
    x_np, y_np = inputs(spec, size)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    native = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[spec.cell](
        spec.input_size, spec.hidden_size, spec.num_layers, batch_first=True, bidirectional=spec.bidirectional
    )
    native.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    models = {
        "seqnet-torch": seqnet.build(spec, "torch", weights),
        "torch-nn": native,
        "seqnet-torch-generic": seqnet.build(spec, "torch", weights, fused=False),
    }
    impls = []
    for name, model in models.items():
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def forward(model=model):
            with torch.no_grad():
                return model(x)[0]

        def train(model=model, opt=opt):
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((model(x)[0] - y) ** 2)
            loss.backward()
            opt.step()

        impls.append(Impl(name, "torch", forward, train, lambda f=forward: f().numpy()))
    return impls
