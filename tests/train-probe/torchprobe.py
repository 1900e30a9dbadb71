"""The probe recipe of contract section 6 in PyTorch: the peer of train-probe.

train() is what a PyTorch user writes: nn.Linear, BCEWithLogitsLoss (mean),
SGD(momentum, weight_decay), StepLR(step, 0.1), batches of rows in a
per-epoch order. init (weight, bias) and orders (one row array per epoch)
reproduce a given run exactly; without them torch's own RNG decides.
"""
import numpy as np
import torch


def train(x, y, train_rows, epochs=100, lr=0.01, lr_step=40, batch=128, momentum=0.9,
          weight_decay=1e-4, init=None, orders=None, seed=0):
    torch.manual_seed(seed)
    x = torch.as_tensor(np.ascontiguousarray(x, np.float32))
    y = torch.as_tensor(np.ascontiguousarray(y, np.float32))
    train_rows = torch.as_tensor(np.asarray(train_rows, np.int64))
    lin = torch.nn.Linear(x.shape[1], y.shape[1])
    if init is not None:
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(init[0]))
            lin.bias.copy_(torch.as_tensor(init[1]))
    opt = torch.optim.SGD(lin.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, lr_step, 0.1) if lr_step > 0 else None
    lossf = torch.nn.BCEWithLogitsLoss()
    losses = []
    for e in range(epochs):
        if orders is not None:
            order = torch.as_tensor(np.asarray(orders[e], np.int64))
        else:
            order = train_rows[torch.randperm(len(train_rows))]
        total = 0.0
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            opt.zero_grad()
            loss = lossf(lin(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(order))
        if sched:
            sched.step()
    w = lin.weight.detach().numpy().copy()
    b = lin.bias.detach().numpy().copy()
    return w, b, losses


def predict(x, w, b):
    with torch.no_grad():
        z = torch.as_tensor(np.asarray(x, np.float32)) @ torch.as_tensor(w).T + torch.as_tensor(b)
        return torch.sigmoid(z).numpy()
