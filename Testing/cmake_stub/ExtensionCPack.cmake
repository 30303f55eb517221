# no packaging in the stub
