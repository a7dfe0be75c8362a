"""The Lomash Wood task suite's core: plain functions over typed data, called by tasks/."""
