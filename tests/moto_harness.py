"""A moto server (S3, Kinesis) for pinpipe's tests, tied to the test process that started it.

    python3 moto_harness.py PORT

Starts `moto_server` on 127.0.0.1:PORT, prints "ready" once it answers, then reads commands from
standard input, one per line:
    bucket NAME   create an S3 bucket (answers "ok NAME")
    secret NAME VALUE   create a Secrets Manager secret (answers "ok ARN")
When standard input closes (the test process ended, however it ended), it stops moto and exits.
"""
import os
import subprocess
import sys
import time
import urllib.request

import boto3

port = int(sys.argv[1])
url = f"http://127.0.0.1:{port}"
# moto's server, with S3 conditional writes made atomic (see moto_server.py)
launcher = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_server.py")
server = subprocess.Popen(
    [sys.executable, launcher, "-H", "127.0.0.1", "-p", str(port)],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
try:
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).read()
            break
        except Exception:
            if time.time() > deadline or server.poll() is not None:
                print("moto did not start", flush=True)
                sys.exit(1)
            time.sleep(0.1)
    s3 = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    secrets = boto3.client(
        "secretsmanager", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "bucket":
            s3.create_bucket(Bucket=arg)
            print(f"ok {arg}", flush=True)
        elif command == "secret":
            name, _, value = arg.partition(" ")
            arn = secrets.create_secret(Name=name, SecretString=value)["ARN"]
            print(f"ok {arn}", flush=True)
        else:
            print(f"unknown command {command!r}", flush=True)
finally:
    server.kill()
    server.wait()
