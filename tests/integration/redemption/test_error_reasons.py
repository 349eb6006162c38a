"""An integrator reads a refusal as README "Error reasons" says: the rich status's ErrorInfo,
its domain the service's, its reason a value of the service's ErrorReason enum."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from linli.redemption.v1 import errors_pb2
from linli.redemption.v1 import pos_pb2 as pb

from .conftest import Kit


async def test_a_refused_redemption_names_a_reason_of_the_enum(kit: Kit) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(10)
    reward = await kit.reward(points=30)
    session = await kit.session(till, volunteer)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kit.pos.Redeem(pb.RedeemRequest(reward=reward, member_session=session, quantity=1,
                                              request_id="too-poor"), metadata=till)
    status = rpc_status.from_call(refused.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert next(d for d in status.details if d.Unpack(info))
    assert info.domain == "linli.partner-redemption"
    assert errors_pb2.ErrorReason.Value(info.reason) == errors_pb2.INSUFFICIENT_POINTS
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
