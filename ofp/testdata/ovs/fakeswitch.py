# A fake OpenFlow 1.3 switch on a unix socket: prints every message it receives as hex, one per line.
import socket, struct, sys, os
path=sys.argv[1]
try: os.unlink(path)
except OSError: pass
s=socket.socket(socket.AF_UNIX); s.bind(path); s.listen(1)
def serve(c):
    c.sendall(bytes.fromhex('04000010000000000001000800000010'))
    buf=b''
    def recvn(n):
        nonlocal buf
        while len(buf)<n:
            d=c.recv(65536)
            if not d: return None
            buf+=d
        r=buf[:n]; buf=buf[n:]; return r
    while True:
        h=recvn(8)
        if h is None: return
        v,t,l,x=struct.unpack('!BBHI',h); body=recvn(l-8)
        print((h+body).hex(), flush=True)
        if t==18:
            mt=struct.unpack('!H',body[:2])[0]
            rb=b''
            if mt==12: rb=struct.pack('!HB5x32sQQII',64,0,b'table0',0,0,0,1000000)
            c.sendall(struct.pack('!BBHIHH4x',4,19,16+len(rb),x,mt,0)+rb)
        if t==20: c.sendall(struct.pack('!BBHI',4,21,8,x))
        if t==5: c.sendall(struct.pack('!BBHIQIBBxxII',4,6,32,x,1,0,254,0,0,0))
        if t==2: c.sendall(struct.pack('!BBHI',4,3,l,x)+body)
while True:
    c,_=s.accept()
    serve(c)
    c.close()
