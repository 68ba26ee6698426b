"""Evaluation: 2D/3D mIoU and mAcc, baselines, benchmark harness."""
