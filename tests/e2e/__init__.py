"""End-to-end tests: a real etcd, kube-apiserver, kube-controller-manager and kubectl.

The modules here are plain code usable outside pytest (``make demo`` drives them too);
only ``conftest.py`` knows about pytest.
"""
