"""Cameras, projection, poses and ray sampling (torch, no learning)."""
