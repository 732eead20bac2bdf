"""vrl's SLURM launcher as a Hydra plugin (`hydra/launcher=slurm_cpu|slurm_gpu|slurm_gpu_multinode`).

Hydra instantiates launchers only from the `hydra_plugins` namespace package, so the class the
profiles target lives here; its checks are `vrl.launcher`'s.
"""

from vrl.launcher import CheckedSlurmLauncher


class SlurmLauncher(CheckedSlurmLauncher):
    """Hydra's submitit SLURM launcher with vrl's pre-submit checks (see `vrl.launcher`)."""


__all__ = ["SlurmLauncher"]
