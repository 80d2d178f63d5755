"""Tools on top of the service: the CLI, the sidecars it starts, the KubeRay renderer."""
