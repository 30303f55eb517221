# nothing to generate in the stub
