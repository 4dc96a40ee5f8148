"""The paper's batch per encoder and freezing policy: reference table 4.4, per GPU, on 4 GPUs.

What `train.batch_size=-1` resolves to for a video tower. 'scratch' (the reference's TFS) falls
back to the FT batch where the table has no TFS entry.
"""

GPUS = 4

PER_GPU = {
    'videomae_b': {'frozen': 45, 'topT': 45, 'halfT': 18, 'FT': 10},
    'r3d_18': {'frozen': 32, 'topT': 32, 'FT': 20},
    'r2plus1d_r50': {'frozen': 70, 'topT': 70, 'FT': 10},
    'c2d_r50': {'frozen': 45, 'topT': 45, 'FT': 10},
    'i3d_r50': {'frozen': 45, 'topT': 45, 'FT': 15},
    'csn_r101': {'frozen': 45, 'topT': 45, 'FT': 10},
    'slow_r50': {'frozen': 45, 'topT': 45, 'FT': 10},
    'x3d_l': {'frozen': 90, 'topT': 90, 'FT': 12},
    **{name: {'frozen': 110, 'topT': 110, 'FT': 20} for name in ('x3d_xs', 'x3d_s', 'x3d_m')},
    **{name: {'frozen': 30, 'topT': 30, 'halfT': 30, 'FT': 10, 'scratch': 10}
       for name in ('mvit_b_16x4', 'mvit_b_32x3')},
    'slowfast_r50': {'frozen': 120, 'topT': 120, 'halfT': 60, 'FT': 20, 'scratch': 20},
    'slowfast_r101': {'frozen': 120, 'topT': 120, 'halfT': 25, 'FT': 15, 'scratch': 15},
}


def global_batch(encoder: str, policy: str) -> int | None:
  """The paper's global batch, None where the reference never ran the pair."""
  table = PER_GPU.get(encoder, {})
  per_gpu = table.get(policy, table.get('FT') if policy == 'scratch' else None)
  return None if per_gpu is None else GPUS * per_gpu
