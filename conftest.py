pytest_plugins = ["codecbench.integrations.pytest_plugin"]
