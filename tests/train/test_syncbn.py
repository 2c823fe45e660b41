"""CPU SyncBatchNorm (PyTorch's nn.SyncBatchNorm runs on GPUs only): two gloo processes, each with
half a batch, get the forward output and the gradients of one process with the whole batch."""

from __future__ import annotations

import re
import subprocess
import textwrap

from train_support import PYTHON, child_env

WORKER = textwrap.dedent('''
    import copy, torch, torch.nn as nn, torch.distributed as dist, torch.nn.functional as F
    dist.init_process_group("gloo")
    r = dist.get_rank()
    from cnnlab.train.distributed import CpuSyncBatchNorm, convert_sync_batchnorm
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, bias=False),
                        nn.BatchNorm2d(8, momentum=None), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 3))
    X, Y = torch.randn(16, 2, 10, 10) * 2 + 1, torch.randint(0, 3, (16,))
    ref = copy.deepcopy(net)
    out_ref = ref(X)
    F.cross_entropy(out_ref, Y).backward()
    m = convert_sync_batchnorm(copy.deepcopy(net), torch.device("cpu")).to(memory_format=torch.channels_last)
    assert sum(isinstance(x, CpuSyncBatchNorm) for x in m.modules()) == 2
    ddp = nn.parallel.DistributedDataParallel(m)
    x = X[8 * r:8 * r + 8].contiguous(memory_format=torch.channels_last)
    out = ddp(x)
    F.cross_entropy(out, Y[8 * r:8 * r + 8]).backward()
    out, out_ref = out.detach(), out_ref.detach()
    worst = float((out - out_ref[8 * r:8 * r + 8]).abs().max() / out_ref.abs().max())
    for (k, p), q in zip(m.named_parameters(), ref.parameters()):
        worst = max(worst, float((p.grad - q.grad).norm() / q.grad.norm()))
    for (k, b), c in zip(m.named_buffers(), ref.buffers()):
        worst = max(worst, float((b.float() - c.float()).abs().max()))
    print(f"rank {r} worst {worst:.3e}", flush=True)
    dist.barrier()  # no rank may tear gloo down while the other still uses it
    dist.destroy_process_group()
''')


def test_cpu_sync_batchnorm_matches_the_whole_batch(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    r = subprocess.run(
        [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr[:3000]
    worst = [float(v) for v in re.findall(r"rank \d worst ([0-9.e+-]+?)(?=rank|\s|$)", r.stdout)]
    assert len(worst) == 2 and max(worst) < 1e-5, r.stdout
