"""`python -m jaxlens.data.build`, the earlier name of `jaxlens build` (`jaxlens.builders`)."""

if __name__ == '__main__':
  from jaxlens.builders import __main__ as build  # pylint: disable=g-import-not-at-top
  build.run()
