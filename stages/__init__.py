"""The pipeline's stages, each run by dvc.yaml as ``python -m stages.NAME`` so it imports this tree's library."""
