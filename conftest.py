pytest_plugins = ["codecbench.pytest_plugin"]
